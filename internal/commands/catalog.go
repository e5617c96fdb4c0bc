package commands

import (
	"maps"
	"slices"

	"github.com/switchman-bot/switchman/internal/config"
)

type configCatalog struct{ cfg *config.Config }

// CatalogOf returns the parser's view of cfg.
func CatalogOf(cfg *config.Config) Catalog { return configCatalog{cfg} }

func (c configCatalog) Apps() []string { return c.cfg.AppNames() }

func (c configCatalog) Envs(app string) []string {
	a, ok := c.cfg.App(app)
	if !ok {
		return nil
	}
	return a.EnvNames()
}

func (c configCatalog) DefaultEnv(app string) string {
	a, ok := c.cfg.App(app)
	if !ok {
		return ""
	}
	return a.DefaultEnv
}

func (c configCatalog) Trains() []string { return slices.Sorted(maps.Keys(c.cfg.Trains)) }

func (c configCatalog) Users() []string { return c.cfg.UserNames() }

var _ UserCatalog = configCatalog{}
