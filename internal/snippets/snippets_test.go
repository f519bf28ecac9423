package snippets

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rollingdeploy/terraform-provider-rolling/internal/devprovider"
)

// TestSnippets_formatAndValidateWithTheBuiltProvider is the whole check: one
// `terraform fmt -check` over every snippet as written, then, per snippet
// directory, `terraform get` when it calls modules and `terraform validate`
// with the provider built from this tree. No `terraform init`: the provider
// comes from dev_overrides, and there is no registry to ask.
func TestSnippets_formatAndValidateWithTheBuiltProvider(t *testing.T) {
	if os.Getenv("TF_ACC") == "" {
		t.Skip("set TF_ACC=1 to run terraform on the documentation's snippets (make test does)")
	}
	wd, _ := os.Getwd()
	root, err := devprovider.ModuleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	tf := builtProviderCLI(t, root)
	work := t.TempDir()

	// Every directory of .tf files under examples/, copied whole so that
	// relative module sources still resolve.
	examples := filepath.Join(work, "examples")
	if out, err := exec.Command("cp", "-r", filepath.Join(root, "examples"), examples).CombinedOutput(); err != nil {
		t.Fatalf("copy examples: %v\n%s", err, out)
	}
	dirs := map[string]string{} // work dir -> what to call it in failures
	err = filepath.WalkDir(examples, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".tf" {
			return err
		}
		rel, _ := filepath.Rel(work, filepath.Dir(path))
		dirs[filepath.Dir(path)] = rel
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Every fenced snippet of the Markdown a user reads, one directory each.
	snips := collectMarkdownSnippets(t, root)
	mdDir := filepath.Join(work, "markdown")
	validated := 0
	for _, s := range snips {
		if s.check == checkSkip {
			continue
		}
		dir := filepath.Join(mdDir, strings.ReplaceAll(s.source, "/", "_")+"_L"+strconv.Itoa(s.line))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "snippet.tf"), []byte(s.text), 0o644); err != nil {
			t.Fatal(err)
		}
		if s.check == checkValidate {
			dirs[dir] = s.String()
			validated++
		}
	}
	if validated < 3 {
		t.Fatalf("only %d Markdown snippets to validate: is the extraction broken?", validated)
	}

	// fmt first, on the snippets exactly as written: one process for all.
	if out, ok := tf.run(work, "fmt", "-check", "-diff", "-recursive", "-no-color"); !ok {
		t.Errorf("terraform fmt -check found unformatted snippets (work dir %s mirrors examples/ and names Markdown snippets FILE_LLINE):\n%s",
			work, strings.ReplaceAll(out, work+"/", ""))
	}

	names := make([]string, 0, len(dirs))
	for dir := range dirs {
		names = append(names, dir)
	}
	sort.Strings(names)
	for _, dir := range names {
		t.Run(dirs[dir], func(t *testing.T) {
			t.Parallel()
			wrapDir(t, dir)
			if hasModuleCalls(t, dir) {
				// `get` installs local modules only; init would ask the
				// registry for the provider.
				if out, ok := tf.run(dir, "get", "-no-color"); !ok {
					t.Fatalf("terraform get:\n%s", out)
				}
			}
			if out, ok := tf.run(dir, "validate", "-no-color"); !ok {
				t.Errorf("terraform validate of %s (in a Markdown snippet, line N of snippet.tf is N lines below the fence):\n%s", dirs[dir], out)
			}
		})
	}
}

// collectMarkdownSnippets reads README.md, templates/ and the Markdown under
// examples/.
func collectMarkdownSnippets(t *testing.T, root string) []snippet {
	t.Helper()
	files := []string{"README.md"}
	for _, top := range []string{"templates", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if strings.HasSuffix(path, ".md") || strings.HasSuffix(path, ".md.tmpl") {
				rel, _ := filepath.Rel(root, path)
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var all []snippet
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		s, err := markdownSnippets(filepath.ToSlash(f), string(data))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	return all
}

// wrapDir rewrites a snippet directory in place so that a fragment validates
// (see wrapFragment); fmt has already seen it as written.
func wrapDir(t *testing.T, dir string) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	files := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[p] = string(data)
	}
	rewritten, stub := wrapFragment(files)
	for p, text := range rewritten {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if stub != "" {
		if err := os.WriteFile(filepath.Join(dir, "zz_snippet_stub.tf"), []byte(stub), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var moduleCallRE = regexp.MustCompile(`(?m)^\s*module\s+"`)

func hasModuleCalls(t *testing.T, dir string) bool {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, "*.tf"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if moduleCallRE.Match(data) {
			return true
		}
	}
	return false
}

// cli runs the chosen terraform-compatible CLI with the built provider.
type cli struct {
	bin string
	env []string
}

// builtProviderCLI builds the provider into a temporary directory and
// returns a CLI whose own config file overrides the provider with it (the
// environment's TF_CLI_CONFIG_FILE may name a missing file).
func builtProviderCLI(t *testing.T, root string) cli {
	t.Helper()
	bin, err := devprovider.Terraform()
	if err != nil {
		t.Fatal(err)
	}
	pluginDir := t.TempDir()
	if out, err := devprovider.BuildCommand(context.Background(), root, pluginDir).CombinedOutput(); err != nil {
		t.Fatalf("building the provider: %v\n%s", err, out)
	}
	rc := filepath.Join(pluginDir, "terraformrc")
	if err := os.WriteFile(rc, []byte(devprovider.CLIConfig(pluginDir)+"disable_checkpoint = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return cli{bin: bin, env: append(devprovider.Env(os.Environ(), rc, 0), "TF_IN_AUTOMATION=1")}
}

// run returns the combined output and whether the CLI exited 0.
func (c cli) run(dir string, args ...string) (string, bool) {
	cmd := exec.Command(c.bin, args...)
	cmd.Dir = dir
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}
