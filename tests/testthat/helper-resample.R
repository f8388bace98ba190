# Resampling on future's plans: workers of plan(multisession) and
# plan(cluster) talk to the main session over local sockets.

# Can this machine open a socket to itself? Not where the network is cut
# off entirely (R CMD check in a network namespace with no interfaces,
# not even loopback); a machine with its loopback interface always can.
loopback_available <- function(timeout = 2) {
  port <- parallelly::freePort()
  server <- tryCatch(serverSocket(port), error = function(e) NULL)
  if (is.null(server)) return(FALSE)
  on.exit(close(server))
  client <- tryCatch(suppressWarnings(socketConnection("localhost", port, open = "r+b",
                                                       timeout = timeout)),
                     error = function(e) NULL)
  if (is.null(client)) return(FALSE)
  close(client)
  TRUE
}

skip_without_loopback <- function() {
  skip_if_not_installed("parallelly")
  skip_if_not(loopback_available(), "no network interface, not even loopback (offline check)")
}

# Worker processes start in other directories: they find the package in
# the libraries of this session given as absolute paths (the test scripts
# give R_LIBS relative to the package's root).
local_worker_libs <- function(env = parent.frame()) {
  withr::local_envvar(R_LIBS = paste(.libPaths(), collapse = .Platform$path.sep), .local_envir = env)
}

skip_without_future <- function() {
  skip_if_not_installed("future")
  skip_if_not_installed("future.apply")
  skip_if_not_installed("globals")
}
