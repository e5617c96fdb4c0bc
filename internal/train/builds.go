package train

import (
	"context"

	"github.com/switchman-bot/switchman/internal/artifact"
	"github.com/switchman-bot/switchman/internal/config"
	"github.com/switchman-bot/switchman/internal/errs"
)

// ConfigBuilds checks that a build exists where the app's config says
// builds come from, before it may board.
type ConfigBuilds struct{ Config *config.Config }

// Exists returns nil when the build's artifact is there.
func (b ConfigBuilds) Exists(ctx context.Context, app, build string) error {
	a, ok := b.Config.App(app)
	if !ok {
		return errs.New(errs.Invalid, "unknown app %q", app)
	}
	src := artifact.Source{URL: a.Artifact.URL, Path: a.Artifact.Path, ChecksumOptional: a.Artifact.ChecksumOptional()}
	if _, err := src.Stat(ctx, app, build); err != nil {
		return src.Refusal(app, build, err)
	}
	return nil
}
