package dev.ambientj.config;

import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The file config source: YAML files of Kubernetes objects, loaded into one snapshot and reloaded
 * when any of them changes.
 *
 * <p>Lifecycle: {@link #start} loads synchronously (so the publisher holds the snapshot on return),
 * then a daemon thread watches the files' directories (inotify through {@link WatchService}, which
 * sees editors' write-and-rename too) and, as a safety net for file systems without notifications,
 * compares each file's size and modification time every {@value #POLL_MILLIS} ms. A change is
 * published within a second. An unchanged text is not republished.
 *
 * <p>Errors: a malformed document or an invalid object is logged and left out; the rest applies. A
 * file that cannot be read on reload is a transient error: listeners hear of it and the current
 * snapshot stays.
 */
public final class FileConfigSource implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(FileConfigSource.class);
  static final long POLL_MILLIS = 250;

  private final List<Path> files;
  private final SnapshotPublisher out;
  private final MeshTranslator translator;
  private final WatchService watcher;
  private final Thread thread;
  private final Map<Path, String> fingerprints = new LinkedHashMap<>();
  private volatile boolean closed;
  private String lastText;
  private volatile List<MeshYaml.YamlError> lastYamlErrors = List.of();

  private FileConfigSource(List<Path> files, SnapshotPublisher out, MeshTranslator translator)
      throws IOException {
    this.files = files.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    this.out = out;
    this.translator = translator;
    this.watcher = FileSystems.getDefault().newWatchService();
    Set<Path> dirs = new HashSet<>();
    for (Path f : this.files) {
      if (dirs.add(f.getParent())) {
        f.getParent()
            .register(
                watcher,
                StandardWatchEventKinds.ENTRY_CREATE,
                StandardWatchEventKinds.ENTRY_MODIFY,
                StandardWatchEventKinds.ENTRY_DELETE);
      }
    }
    this.thread =
        Thread.ofPlatform().daemon().name("mesh-config-file-watch").unstarted(this::watchLoop);
  }

  /**
   * Loads {@code files} now, publishes the snapshot to {@code out}, and keeps watching them.
   *
   * @throws UncheckedIOException if a file cannot be read now
   */
  public static FileConfigSource start(List<Path> files, SnapshotPublisher out) {
    return start(files, out, new MeshTranslator());
  }

  public static FileConfigSource start(
      List<Path> files, SnapshotPublisher out, MeshTranslator translator) {
    Objects.requireNonNull(out, "out");
    if (files.isEmpty()) {
      throw new IllegalArgumentException("no configuration files given");
    }
    FileConfigSource source;
    try {
      source = new FileConfigSource(files, out, translator);
      source.reload(true);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read mesh configuration: " + e.getMessage(), e);
    }
    source.thread.start();
    return source;
  }

  /** The malformed documents of the last load. */
  public List<MeshYaml.YamlError> yamlErrors() {
    return lastYamlErrors;
  }

  private void watchLoop() {
    long lastPoll = System.nanoTime();
    while (!closed) {
      try {
        var key = watcher.poll(POLL_MILLIS, TimeUnit.MILLISECONDS);
        boolean relevant = false;
        if (key != null) {
          for (var event : key.pollEvents()) {
            Object ctx = event.context();
            Path dir = (Path) key.watchable();
            if (event.kind() == StandardWatchEventKinds.OVERFLOW
                || (ctx instanceof Path p
                    && files.contains(dir.resolve(p).toAbsolutePath().normalize()))) {
              relevant = true;
            }
          }
          key.reset();
        }
        if (!relevant
            && System.nanoTime() - lastPoll >= TimeUnit.MILLISECONDS.toNanos(POLL_MILLIS)) {
          relevant = fingerprintsChanged();
          lastPoll = System.nanoTime();
        }
        if (relevant) {
          // Let a writer finish: editors and `cp` write in several syscalls.
          Thread.sleep(50);
          reload(false);
        }
      } catch (InterruptedException | ClosedWatchServiceException e) {
        return;
      } catch (IOException e) {
        log.warn("mesh configuration not reloaded: {}", e.getMessage());
        out.reportTransientError("mesh configuration not reloaded: " + e.getMessage());
      } catch (RuntimeException e) {
        log.error("mesh configuration reload failed; keeping the current snapshot", e);
        out.reportTransientError("mesh configuration reload failed: " + e);
      }
    }
  }

  private boolean fingerprintsChanged() {
    for (Path f : files) {
      if (!fingerprint(f).equals(fingerprints.get(f))) {
        return true;
      }
    }
    return false;
  }

  private static String fingerprint(Path f) {
    try {
      return Files.size(f) + "@" + Files.getLastModifiedTime(f).toMillis();
    } catch (IOException e) {
      return "missing";
    }
  }

  private synchronized void reload(boolean first) throws IOException {
    StringBuilder all = new StringBuilder();
    List<HasMetadata> objects = new ArrayList<>();
    List<MeshYaml.YamlError> errors = new ArrayList<>();
    // Fingerprints first: a file that stays unreadable is reported once, not on every poll.
    fingerprints.clear();
    for (Path f : files) {
      fingerprints.put(f, fingerprint(f));
    }
    for (Path f : files) {
      String text = Files.readString(f, StandardCharsets.UTF_8);
      all.append(f).append('\0').append(text).append('\0');
      MeshYaml.Result r = MeshYaml.load(text, f.toString());
      objects.addAll(r.objects());
      errors.addAll(r.errors());
    }
    String text = all.toString();
    if (!first && text.equals(lastText)) {
      return;
    }
    lastText = text;
    lastYamlErrors = List.copyOf(errors);
    for (MeshYaml.YamlError e : errors) {
      log.warn("{}", e);
    }
    MeshSnapshot snapshot = translator.translate(objects);
    for (ConfigRejection r : snapshot.rejections()) {
      log.warn("rejected {}", r);
    }
    log.info(
        "mesh configuration version {}: {} workloads, {} services, {} waypoints, {} rejected",
        snapshot.version(),
        snapshot.workloads().size(),
        snapshot.services().size(),
        snapshot.waypoints().size(),
        snapshot.rejections().size());
    out.publish(snapshot);
  }

  @Override
  public void close() {
    closed = true;
    try {
      watcher.close();
    } catch (IOException e) {
      log.debug("closing the watch service", e);
    }
    thread.interrupt();
  }
}
