set :application, "app"
set :deploy_to, "/srv/app"
set :keep_releases, 5
set :pty, false
set :log_level, :info

namespace :deploy do
  desc "Restart the app: a no-op here"
  task :restart do
    on release_roles(:all) do
      execute :true
    end
  end

  desc "Check that the switched release is the expected build"
  task :health do
    # A rollback sets rollback_timestamp to the release it goes back to.
    want = fetch(:rollback_timestamp, nil) || fetch(:build)
    on release_roles(:all) do
      execute %(test "$(cat #{current_path}/BUILD)" = #{want})
    end
  end

  after :publishing, :restart
  after :restart, :health
end
