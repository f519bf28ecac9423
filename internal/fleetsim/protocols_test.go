package fleetsim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/fxamacker/cbor/v2"
)

// signedPost sends a SigV4-signed POST the way a non-Go client would.
func signedPost(t *testing.T, url, service, contentType string, headers map[string]string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey}
	if err := v4.NewSigner().SignHTTP(ctx(t), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestCloudWatch_queryProtocolAnswersXML(t *testing.T) {
	s, _, url := newFrozenSim(t, Options{})
	s.AddAlarm("web-5xx", "ALARM")
	resp := signedPost(t, url+"/", "monitoring", "application/x-www-form-urlencoded", nil,
		[]byte("Action=DescribeAlarms&Version=2010-08-01&AlarmNames.member.1=web-5xx"))
	defer resp.Body.Close()
	var out struct {
		Result struct {
			MetricAlarms []struct {
				AlarmName  string `xml:"AlarmName"`
				StateValue string `xml:"StateValue"`
			} `xml:"MetricAlarms>member"`
		} `xml:"DescribeAlarmsResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if len(out.Result.MetricAlarms) != 1 || out.Result.MetricAlarms[0].StateValue != "ALARM" || out.RequestID == "" {
		t.Fatalf("%+v", out)
	}
	resp2 := signedPost(t, url+"/", "monitoring", "application/x-www-form-urlencoded", nil,
		[]byte("Action=SetAlarmState&Version=2010-08-01&AlarmName=nope&StateValue=OK&StateReason=x"))
	defer resp2.Body.Close()
	var e struct {
		Code string `xml:"Error>Code"`
	}
	if err := xml.NewDecoder(resp2.Body).Decode(&e); err != nil || e.Code != "ResourceNotFound" || resp2.StatusCode != 404 {
		t.Fatalf("error %d %+v %v", resp2.StatusCode, e, err)
	}
}

func TestCloudWatch_cborResponsesCarryTheSmithyProtocolHeader(t *testing.T) {
	s, _, url := newFrozenSim(t, Options{})
	s.AddAlarm("a", "OK")
	body, _ := cbor.Marshal(map[string]any{"AlarmNames": []string{"a"}})
	resp := signedPost(t, url+cborServicePath+"DescribeAlarms", "monitoring", "application/cbor",
		map[string]string{"Smithy-Protocol": "rpc-v2-cbor", "Accept": "application/cbor"}, body)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || resp.Header.Get("Content-Type") != "application/cbor" {
		t.Fatalf("headers %v", resp.Header)
	}
	var out map[string]any
	if err := cbor.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	alarms, _ := out["MetricAlarms"].([]any)
	if len(alarms) != 1 {
		t.Fatalf("%v", out)
	}
	// Timestamps are CBOR tag 1 (epoch seconds), as rpc-v2-cbor requires.
	if _, ok := alarms[0].(map[any]any)["StateUpdatedTimestamp"].(time.Time); !ok {
		t.Fatalf("StateUpdatedTimestamp is %T", alarms[0].(map[any]any)["StateUpdatedTimestamp"])
	}
}

func TestSSM_jsonErrorsCarryTypeInBodyAndHeader(t *testing.T) {
	_, _, url := newFrozenSim(t, Options{})
	resp := signedPost(t, url+"/", "ssm", "application/x-amz-json-1.1", map[string]string{"X-Amz-Target": "AmazonSSM.DescribeDocument"},
		[]byte(`{"Name":"Nope"}`))
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || out["__type"] != "InvalidDocument" || resp.Header.Get("X-Amzn-ErrorType") != "InvalidDocument" || !strings.Contains(out["message"], "Nope") {
		t.Fatalf("%d %v %v", resp.StatusCode, out, resp.Header)
	}
}

func TestEC2_errorsUseRequestIDAndNoResultWrapper(t *testing.T) {
	_, _, url := newFrozenSim(t, Options{})
	resp := signedPost(t, url+"/", "ec2", "application/x-www-form-urlencoded", nil, []byte("Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-0123456789abcdef0"))
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(raw), "<RequestID>") || !strings.Contains(string(raw), "<Code>InvalidInstanceID.NotFound</Code>") {
		t.Fatalf("%s", raw)
	}
	ok := signedPost(t, url+"/", "ec2", "application/x-www-form-urlencoded", nil, []byte("Action=DescribeInstances&Version=2016-11-15"))
	defer ok.Body.Close()
	raw, _ = io.ReadAll(ok.Body)
	if !strings.Contains(string(raw), "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>") || strings.Contains(string(raw), "Result>") {
		t.Fatalf("%s", raw)
	}
}
