package deploy_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchman-bot/switchman/internal/deploy"
	"github.com/switchman-bot/switchman/internal/errs"
)

// TestUncheckableArtifactSaysWhy: a build whose checksum file cannot be
// used is refused, deploy and dry run alike, saying why and with the code
// that says whether trying again may help.
func TestUncheckableArtifactSaysWhy(t *testing.T) {
	f := newFixture(t, "")
	f.build("9")
	sum := filepath.Join(f.arts, "web-9.tar.gz.sha256")
	if err := os.WriteFile(sum, []byte("<html>not found</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "cannot check build 9 of web: " + sum + ": line 1: first field is not a SHA-256 digest"

	_, err := f.run(deploy.KindDeploy, "9")
	if msg := errs.Message(err); errs.CodeOf(err) != errs.Invalid || !strings.Contains(msg, want) || !strings.HasSuffix(msg, "; nothing was changed") {
		t.Errorf("deploy: got %s %q, want invalid saying %q and that nothing was changed", errs.CodeOf(err), msg, want)
	}
	_, err = f.engine.Plan(context.Background(), deploy.Request{App: "web", Env: "prod", Build: "9"})
	if msg := errs.Message(err); errs.CodeOf(err) != errs.Invalid || !strings.Contains(msg, want) {
		t.Errorf("dry run: got %s %q, want invalid saying %q", errs.CodeOf(err), msg, want)
	}
	if f.exists("") {
		t.Error("the deploy dir exists after a refused deploy")
	}
}
