# Turns Maven's batch-mode output (./mvnw -B ...) into lines a person can follow while ./mesh
# builds: the module being built ("[3/6] ztunnel"), how many files have been downloaded so far
# (every 100th, and the total when the build moves on), and Maven's errors and warnings about the
# build as they come. Reads Maven's output on stdin, writes the progress on stdout.
#
# Variables (awk -v): start = the build's start, in seconds since the epoch (date +%s); for the
# elapsed time on each line. POSIX awk only (Debian's mawk runs it): the time comes from srand().
function now(   t) {
  srand()
  t = srand()
  return t
}
function say(text) {
  printf "mesh: [%4d s] %s\n", now() - start, text
  fflush()
}
function flush_downloads() {
  if (downloads > reported) {
    say("downloaded " downloads " files")
    reported = downloads
  }
}
BEGIN { downloads = 0; reported = 0; modules = 0 }
/^(\[INFO\] )?Downloaded from / {
  downloads++
  if (downloads % 100 == 0) {
    say("downloaded " downloads " files (Maven's plugins and ambientj's dependencies; the first build only) ...")
    reported = downloads
  }
  next
}
/^(\[INFO\] )?Downloading from / { next }
/^\[INFO\] Building .*\[[0-9]+\/[0-9]+\]$/ {
  flush_downloads()
  # "[INFO] Building ambientj ztunnel 0.1.0-SNAPSHOT    [3/6]"
  position = $NF
  name = $0
  sub(/^\[INFO\] Building /, "", name)
  sub(/ +\[[0-9]+\/[0-9]+\]$/, "", name)
  sub(/ [^ ]+$/, "", name)          # the version
  sub(/^ambientj /, "", name)
  say("building " position " " name)
  modules++
  next
}
/^\[ERROR\]/ { flush_downloads(); print; fflush(); next }
/^\[INFO\] BUILD (SUCCESS|FAILURE)/ {
  flush_downloads()
  line = $0
  sub(/^\[INFO\] /, "", line)
  say("Maven: " line)
  next
}
END { flush_downloads() }
