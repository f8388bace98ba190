# Suggested packages of the modelling ecosystem (recipes, caret).

# Skips unless `pkg` is installed. Loading recipes or caret asks for the
# time zone, which warns where TZ is unset and timedatectl cannot run (a
# container); a set TZ is kept.
skip_without <- function(pkg) {
  withr::local_envvar(TZ = Sys.getenv("TZ", "UTC"))
  skip_if_not_installed(pkg)
}
