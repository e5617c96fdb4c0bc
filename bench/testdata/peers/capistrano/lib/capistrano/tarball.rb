require "capistrano/scm/plugin"

# An SCM-less strategy: a release is a build tarball, named by its build id
# (releases/<BUILD>), fetched by each host from the artifact server with curl
# (FETCH=curl, the default) or uploaded to it over SCP (FETCH=upload), then
# unpacked.
module Capistrano
  class Tarball < Capistrano::SCM::Plugin
    def set_defaults
      set_if_empty :build, -> { ENV.fetch("BUILD") }
      set_if_empty :tarball_fetch, -> { ENV.fetch("FETCH", "curl") }
      set_if_empty :tarball_url, -> { ENV.fetch("ARTIFACT_URL") }
      set_if_empty :tarball_path, -> { ENV.fetch("ARTIFACT_PATH") }
    end

    def register_hooks
      after "deploy:new_release_path", "tarball:create_release"
      before "deploy:check", "tarball:check"
      before "deploy:set_current_revision", "tarball:set_current_revision"
    end

    def define_tasks
      # Releases are named by build, not by timestamp.
      Rake::Task["deploy:new_release_path"].clear_actions
      namespace :deploy do
        task :new_release_path do
          set_release_path(fetch(:build))
        end
      end

      namespace :tarball do
        task :check do
          next unless fetch(:tarball_fetch) == "curl"
          on release_roles(:all) do
            execute "command -v curl >/dev/null"
          end
        end

        task :create_release do
          on release_roles(:all) do
            tarball = "#{release_path}.tar.gz"
            execute :mkdir, "-p", release_path
            if fetch(:tarball_fetch) == "upload"
              upload! fetch(:tarball_path), tarball
            else
              execute :curl, "-fsS", "-o", tarball, fetch(:tarball_url)
            end
            execute :tar, "-xzf", tarball, "-C", release_path
            execute :rm, "-f", tarball
          end
        end

        task :set_current_revision do
          set :current_revision, fetch(:build)
        end
      end
    end
  end
end
