package fleetsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

func apiErrorCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("not an API error: %v", err)
	}
	return ae.ErrorCode()
}

func putParam(t *testing.T, c *ssm.Client, in *ssm.PutParameterInput) *ssm.PutParameterOutput {
	t.Helper()
	out, err := c.PutParameter(ctx(t), in)
	if err != nil {
		t.Fatalf("PutParameter %s: %v", aws.ToString(in.Name), err)
	}
	return out
}

func TestParameters_putCreatesThenOverwriteAddsVersions(t *testing.T) {
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s, cfg, _ := newFrozenSim(t, Options{Start: start})
	c := ssm.NewFromConfig(cfg)
	out := putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/fleet/web/lease"), Value: aws.String("owner=a"), Type: ssmtypes.ParameterTypeString})
	if out.Version != 1 || out.Tier != ssmtypes.ParameterTierStandard {
		t.Fatalf("first put %+v", out)
	}
	_, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/fleet/web/lease"), Value: aws.String("owner=b"), Type: ssmtypes.ParameterTypeString})
	if code := apiErrorCode(t, err); code != "ParameterAlreadyExists" {
		t.Fatalf("create over an existing parameter: %s", code)
	}
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("the SDK does not see its modelled error: %T", err)
	}
	s.Advance(time.Minute)
	// Type may be left out on overwrite: the parameter keeps its type.
	if out = putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/fleet/web/lease"), Value: aws.String("owner=b"), Overwrite: aws.Bool(true)}); out.Version != 2 {
		t.Fatalf("overwrite version %d", out.Version)
	}
	got, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/fleet/web/lease")})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Parameter
	if *p.Value != "owner=b" || p.Version != 2 || p.Type != ssmtypes.ParameterTypeString || *p.DataType != "text" ||
		*p.ARN != "arn:aws:ssm:us-east-1:123456789012:parameter/fleet/web/lease" || !p.LastModifiedDate.Equal(start.Add(time.Minute)) {
		t.Fatalf("parameter %+v (modified %v)", p, p.LastModifiedDate)
	}
	first, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/fleet/web/lease:1")})
	if err != nil || *first.Parameter.Value != "owner=a" || *first.Parameter.Selector != ":1" || *first.Parameter.Name != "/fleet/web/lease" {
		t.Fatalf("version selector: %+v %v", first, err)
	}
	_, err = c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/fleet/web/lease:7")})
	if code := apiErrorCode(t, err); code != "ParameterVersionNotFound" {
		t.Fatalf("missing version: %s", code)
	}
	byARN, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: p.ARN})
	if err != nil || *byARN.Parameter.Value != "owner=b" {
		t.Fatalf("by ARN: %v", err)
	}
	// A name without a hierarchy has no slash to drop from its ARN.
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("plain"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString})
	if sum := s.Parameters(); len(sum) != 2 || sum[1].ARN != "arn:aws:ssm:us-east-1:123456789012:parameter/plain" || sum[0].Version != 2 {
		t.Fatalf("summaries %+v", sum)
	}
}

func TestParameters_tagsWithOverwriteAndMissingTypeAreRefused(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	tags := []ssmtypes.Tag{{Key: aws.String("rolling:rollout"), Value: aws.String("r-1")}}
	// Refused even when the parameter does not exist yet.
	_, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/t"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(true), Tags: tags})
	if code := apiErrorCode(t, err); code != "ValidationException" || !strings.Contains(err.Error(), "tags and overwrite can't be used together") {
		t.Fatalf("tags+overwrite: %v", err)
	}
	_, err = c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/t"), Value: aws.String("v")})
	if code := apiErrorCode(t, err); code != "ValidationException" || !strings.Contains(err.Error(), "type is required") {
		t.Fatalf("no type: %v", err)
	}
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/t"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString, Tags: tags})
	desc, err := c.DescribeParameters(ctx(t), &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
		{Key: aws.String("tag:rolling:rollout"), Values: []string{"r-1"}}}})
	if err != nil || len(desc.Parameters) != 1 {
		t.Fatalf("tag filter: %+v %v", desc, err)
	}
}

func TestParameters_nameRules(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	deep := "/" + strings.Repeat("l/", 15) + "leaf" // 16 levels
	for name, want := range map[string]string{
		"/ok/name_1.2-3":                        "",
		"/" + strings.Repeat("l/", 14) + "leaf": "", // 15 levels
		deep:                                    "HierarchyLevelLimitExceededException",
		"aws-thing":                             "ValidationException",
		"SSM.thing":                             "ValidationException",
		"/ssm/x":                                "ValidationException",
		"/aws/service/x":                        "AccessDeniedException",
		"/has space/x":                          "ValidationException",
		"/bad*char":                             "ValidationException",
		"no/leading/slash":                      "ValidationException",
		"/empty//level":                         "ValidationException",
		"/trailing/":                            "ValidationException",
		"/" + strings.Repeat("x", 1000):         "ValidationException", // name + ARN prefix > 1011
	} {
		_, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && err == nil:
			t.Errorf("%s accepted", name)
		case want != "" && apiErrorCode(t, err) != want:
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
	// Spaces around a name are trimmed.
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("  /trimmed  "), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})
	if _, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/trimmed")}); err != nil {
		t.Fatal(err)
	}
}

func TestParameters_valueLimitsFollowTheTier(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	put := func(name string, size int, tier ssmtypes.ParameterTier) (*ssm.PutParameterOutput, error) {
		return c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(strings.Repeat("v", size)),
			Type: ssmtypes.ParameterTypeSecureString, Tier: tier})
	}
	if _, err := put("/std", 4096, ""); err != nil {
		t.Fatalf("4 KB standard: %v", err)
	}
	if _, err := put("/std2", 4097, ""); err == nil || apiErrorCode(t, err) != "ValidationException" || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("4 KB + 1 standard: %v", err)
	}
	if out, err := put("/it", 4097, ssmtypes.ParameterTierIntelligentTiering); err != nil || out.Tier != ssmtypes.ParameterTierAdvanced {
		t.Fatalf("intelligent tiering: %+v %v", out, err)
	}
	if _, err := put("/adv", 8193, ssmtypes.ParameterTierAdvanced); err == nil {
		t.Fatal("8 KB + 1 advanced accepted")
	}
	if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/it"), Value: aws.String("small"), Overwrite: aws.Bool(true),
		Tier: ssmtypes.ParameterTierStandard}); err == nil || !strings.Contains(err.Error(), "downgrade") {
		t.Fatalf("advanced -> standard: %v", err)
	}
}

func TestParameters_secureStringIsCiphertextUnlessDecrypted(t *testing.T) {
	s, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	const secret = "db-password-hunter2"
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/rollout/r-1/secret"), Value: aws.String(secret), Type: ssmtypes.ParameterTypeSecureString})
	plain, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/rollout/r-1/secret")})
	if err != nil {
		t.Fatal(err)
	}
	if v := *plain.Parameter.Value; v == secret || strings.Contains(v, "hunter2") || !strings.HasPrefix(v, "AQICAH") {
		t.Fatalf("without decryption the value is %q", v)
	}
	dec, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/rollout/r-1/secret"), WithDecryption: aws.Bool(true)})
	if err != nil || *dec.Parameter.Value != secret || dec.Parameter.Type != ssmtypes.ParameterTypeSecureString {
		t.Fatalf("decrypted %+v %v", dec, err)
	}
	desc, err := c.DescribeParameters(ctx(t), &ssm.DescribeParametersInput{})
	if err != nil || len(desc.Parameters) != 1 || *desc.Parameters[0].KeyId != "alias/aws/ssm" ||
		*desc.Parameters[0].LastModifiedUser != "arn:aws:iam::123456789012:user/fleetsim" {
		t.Fatalf("describe %+v %v", desc, err)
	}
	if _, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/k"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString,
		KeyId: aws.String("alias/custom")}); err == nil {
		t.Fatal("KeyId on a String accepted")
	}
	// Neither the recorder nor the admin API ever holds the secret.
	_, _ = c.GetParameters(ctx(t), &ssm.GetParametersInput{Names: []string{"/rollout/r-1/secret"}, WithDecryption: aws.Bool(true)})
	_, _ = c.PutParameter(ctx(t), &ssm.PutParameterInput{Name: aws.String("/rollout/r-1/secret"), Value: aws.String(secret + "-2"), Overwrite: aws.Bool(true)})
	rec, _ := json.Marshal(s.Recorder().Report(true, false))
	if strings.Contains(string(rec), "hunter2") {
		t.Fatalf("the recorder kept the secret: %s", rec)
	}
	var puts []Call
	for _, call := range s.Recorder().Calls("PutParameter") {
		if call.Params["Name"] == "/rollout/r-1/secret" {
			puts = append(puts, call)
		}
	}
	if len(puts) != 2 || puts[0].Params["Value"] != "HIDDEN_DUE_TO_SECURITY_REASONS" || puts[1].Params["Type"] != "SecureString" {
		t.Fatalf("recorded puts %+v", puts)
	}
	sums, _ := json.Marshal(s.Parameters())
	if strings.Contains(string(sums), "hunter2") || strings.Contains(string(sums), (*plain.Parameter.Value)[:12]) {
		t.Fatalf("summaries show the value: %s", sums)
	}
}

func TestParameters_assumedRoleIsTheLastModifiedUser(t *testing.T) {
	_, cfg, url := newFrozenSim(t, Options{})
	creds, err := sts.NewFromConfig(cfg).AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::123456789012:role/deployer"), RoleSessionName: aws.String("ci")})
	if err != nil {
		t.Fatal(err)
	}
	role := sdkConfig(url, "us-east-1", *creds.Credentials.AccessKeyId, *creds.Credentials.SecretAccessKey, 1)
	role.Credentials = credentials.NewStaticCredentialsProvider(*creds.Credentials.AccessKeyId, *creds.Credentials.SecretAccessKey, *creds.Credentials.SessionToken)
	c := ssm.NewFromConfig(role)
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/by-role"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})
	hist, err := c.GetParameterHistory(ctx(t), &ssm.GetParameterHistoryInput{Name: aws.String("/by-role")})
	if err != nil || len(hist.Parameters) != 1 || *hist.Parameters[0].LastModifiedUser != "arn:aws:sts::123456789012:assumed-role/deployer/ci" {
		t.Fatalf("history %+v %v", hist, err)
	}
}

func TestParameters_getParametersReportsInvalidNames(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/a"), Value: aws.String("1"), Type: ssmtypes.ParameterTypeString})
	putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/b"), Value: aws.String("x,y"), Type: ssmtypes.ParameterTypeStringList})
	out, err := c.GetParameters(ctx(t), &ssm.GetParametersInput{Names: []string{"/a", "/missing", "/b", "/a:3"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Parameters) != 2 || *out.Parameters[1].Value != "x,y" || len(out.InvalidParameters) != 2 || out.InvalidParameters[0] != "/missing" {
		t.Fatalf("%+v", out)
	}
	if _, err := c.GetParameters(ctx(t), &ssm.GetParametersInput{Names: make([]string, 11)}); err == nil || apiErrorCode(t, err) != "ValidationException" {
		t.Fatalf("11 names: %v", err)
	}
	_, err = c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/missing")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("missing: %v", err)
	}
}

func TestParameters_byPathIsOneLevelUnlessRecursiveAndPages(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	for _, n := range []string{"/app/a", "/app/b", "/app/c", "/app/deep/x", "/app/deep/y/z", "/other/a", "/apple"} {
		putParam(t, c, &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})
	}
	names := func(recursive bool, size int32) []string {
		var out []string
		pager := ssm.NewGetParametersByPathPaginator(c, &ssm.GetParametersByPathInput{Path: aws.String("/app/"), Recursive: aws.Bool(recursive), MaxResults: aws.Int32(size)})
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Parameters) > int(size) {
				t.Fatalf("page of %d over MaxResults %d", len(page.Parameters), size)
			}
			for _, p := range page.Parameters {
				out = append(out, *p.Name)
			}
		}
		return out
	}
	if got := strings.Join(names(false, 2), ","); got != "/app/a,/app/b,/app/c" {
		t.Fatalf("one level: %s", got)
	}
	if got := strings.Join(names(true, 10), ","); got != "/app/a,/app/b,/app/c,/app/deep/x,/app/deep/y/z" {
		t.Fatalf("recursive: %s", got)
	}
	if _, err := c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("/app"), MaxResults: aws.Int32(11)}); err == nil {
		t.Fatal("MaxResults 11 accepted")
	}
	if _, err := c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("app")}); err == nil {
		t.Fatal("a path without a leading slash accepted")
	}
	_, err := c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("/app"),
		ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{"x"}}}})
	if code := apiErrorCode(t, err); code != "InvalidFilterKey" {
		t.Fatalf("Name filter by path: %v", err)
	}
	typed, err := c.GetParametersByPath(ctx(t), &ssm.GetParametersByPathInput{Path: aws.String("/"), Recursive: aws.Bool(true),
		ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Type"), Values: []string{"SecureString"}}}})
	if err != nil || len(typed.Parameters) != 0 {
		t.Fatalf("type filter: %+v %v", typed, err)
	}
}

func TestParameters_deleteAndDescribeFilters(t *testing.T) {
	_, cfg, url := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	for _, n := range []string{"/lease/web", "/lease/api", "/secret/r-1/a", "/secret/r-1/b", "/secret/r-2/a"} {
		putParam(t, c, &ssm.PutParameterInput{Name: aws.String(n), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})
	}
	_, err := c.DeleteParameter(ctx(t), &ssm.DeleteParameterInput{Name: aws.String("/nope")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("delete missing: %v", err)
	}
	if _, err := c.DeleteParameter(ctx(t), &ssm.DeleteParameterInput{Name: aws.String("/lease/api")}); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteParameters(ctx(t), &ssm.DeleteParametersInput{Names: []string{"/secret/r-2/a", "/gone"}})
	if err != nil || len(del.DeletedParameters) != 1 || del.DeletedParameters[0] != "/secret/r-2/a" || len(del.InvalidParameters) != 1 {
		t.Fatalf("delete many %+v %v", del, err)
	}
	describe := func(f ...ssmtypes.ParameterStringFilter) []string {
		var out []string
		pager := ssm.NewDescribeParametersPaginator(c, &ssm.DescribeParametersInput{ParameterFilters: f, MaxResults: aws.Int32(1)})
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range page.Parameters {
				out = append(out, *p.Name)
			}
		}
		return out
	}
	if got := strings.Join(describe(ssmtypes.ParameterStringFilter{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/secret/r-1/"}}), ","); got != "/secret/r-1/a,/secret/r-1/b" {
		t.Fatalf("BeginsWith: %s", got)
	}
	if got := strings.Join(describe(ssmtypes.ParameterStringFilter{Key: aws.String("Path"), Option: aws.String("Recursive"), Values: []string{"/secret"}}), ","); got != "/secret/r-1/a,/secret/r-1/b" {
		t.Fatalf("Path: %s", got)
	}
	if got := strings.Join(describe(ssmtypes.ParameterStringFilter{Key: aws.String("Path"), Values: []string{"/lease"}}), ","); got != "/lease/web" {
		t.Fatalf("Path one level: %s", got)
	}
	// The admin API shows what is left, never values.
	resp, err := http.Get(url + "/_sim/parameters")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var left []ParameterSummary
	if err := json.Unmarshal(body, &left); err != nil || len(left) != 3 || left[0].Name != "/lease/web" || left[0].Type != "String" || left[0].Version != 1 {
		t.Fatalf("admin %s %v", body, err)
	}
	if strings.Contains(string(body), `"value"`) {
		t.Fatalf("admin shows values: %s", body)
	}
}

func TestParameters_historyAndLabels(t *testing.T) {
	_, cfg, _ := newFrozenSim(t, Options{})
	c := ssm.NewFromConfig(cfg)
	for i, v := range []string{"v1", "v2", "v3"} {
		putParam(t, c, &ssm.PutParameterInput{Name: aws.String("/h"), Value: aws.String(v), Type: ssmtypes.ParameterTypeString, Overwrite: aws.Bool(i > 0)})
	}
	lab, err := c.LabelParameterVersion(ctx(t), &ssm.LabelParameterVersionInput{Name: aws.String("/h"), ParameterVersion: aws.Int64(2), Labels: []string{"stable", "1bad", "awsx"}})
	if err != nil || lab.ParameterVersion != 2 || len(lab.InvalidLabels) != 2 {
		t.Fatalf("label %+v %v", lab, err)
	}
	got, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/h:stable")})
	if err != nil || *got.Parameter.Value != "v2" {
		t.Fatalf("by label %+v %v", got, err)
	}
	// Moving the label to version 3 takes it off version 2.
	if _, err := c.LabelParameterVersion(ctx(t), &ssm.LabelParameterVersionInput{Name: aws.String("/h"), Labels: []string{"stable"}}); err != nil {
		t.Fatal(err)
	}
	hist, err := c.GetParameterHistory(ctx(t), &ssm.GetParameterHistoryInput{Name: aws.String("/h"), MaxResults: aws.Int32(2)})
	if err != nil || len(hist.Parameters) != 2 || *hist.Parameters[0].Value != "v1" || len(hist.Parameters[1].Labels) != 0 || hist.NextToken == nil {
		t.Fatalf("history page 1 %+v %v", hist, err)
	}
	hist, err = c.GetParameterHistory(ctx(t), &ssm.GetParameterHistoryInput{Name: aws.String("/h"), NextToken: hist.NextToken})
	if err != nil || len(hist.Parameters) != 1 || hist.Parameters[0].Version != 3 || hist.Parameters[0].Labels[0] != "stable" {
		t.Fatalf("history page 2 %+v %v", hist, err)
	}
}
