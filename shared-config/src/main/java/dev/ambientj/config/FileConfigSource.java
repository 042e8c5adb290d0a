package dev.ambientj.config;

import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.GoDuration;
import dev.ambientj.config.model.MeshSnapshot;
import io.fabric8.kubernetes.api.model.HasMetadata;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchService;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
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
 * <p><b>What is in force is only replaced by something valid.</b> Per file, the last good content
 * (every object it held when it last parsed) is kept. A file in which a document cannot be parsed,
 * that holds no document at all (empty, comments only), a document that is not a Kubernetes object
 * (no {@code apiVersion}/{@code kind}), or text that is not UTF-8, changes nothing that file
 * contributed: its last good objects are translated again and the problem is a {@link
 * ConfigRejection} naming the file, line and column (and the object, when its {@code kind:} and
 * {@code name:} lines can be read from the raw text). To remove every object of a file on purpose,
 * write an empty list ({@code {apiVersion: v1, kind: List, items: []}}). Per object, the
 * translator keeps the last good version of an object whose new version is invalid ({@link
 * MeshTranslator}). At the first load a file that cannot be used is a start-up error: a proxy
 * does not half-start without part of its configuration.
 *
 * <p><b>When a change is applied.</b> A daemon thread watches the files' directories (inotify
 * through {@link WatchService}, which sees editors' write-and-rename too) and, as a safety net for
 * file systems without notifications, compares each file's size, modification time and inode
 * every {@value #POLL_MILLIS} ms. A change is applied once no file has changed for the quiet
 * period ({@link Settings#quiet}, default 300 ms): an editor or {@code cp} writes in several
 * system calls, and reading in between sees a prefix. A file whose text does not end in a newline
 * is presumed still being written — YAML written by editors, {@code kubectl}, Helm and shell
 * redirections ends in one, so a missing one is most often a writer cut short between two writes
 * — and is held for the longer settle period ({@link Settings#settle}, default 3 s) after its last
 * change before it is even tried; then it is applied as it is. A truncated text that still parses
 * and ends at a line end cannot be told from an edit: replace files atomically (write a temporary
 * file in the same directory, then rename it over the old one). An unchanged text is not
 * republished.
 *
 * <p><b>Transient errors.</b> A file that cannot be read (deleted, I/O error, too many open files)
 * leaves the current snapshot in force; listeners hear a transient error, and the reload is retried
 * with exponential backoff from {@link Settings#quiet} up to {@link Settings#maxRetryDelay} until it
 * succeeds or the file changes again.
 *
 * <p>Threading: {@link #start} loads on the caller's thread; every later reload runs on the watch
 * thread, so the translator is used sequentially.
 */
public final class FileConfigSource implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(FileConfigSource.class);
  static final long POLL_MILLIS = 250;
  private static final long TICK_MILLIS = 25;

  /**
   * When a change is applied.
   *
   * @param quiet how long every file must be unchanged before a change is applied
   * @param settle how long a file whose text does not end in a newline must be unchanged
   * @param maxRetryDelay the longest wait between retries of a reload that failed transiently
   */
  public record Settings(Duration quiet, Duration settle, Duration maxRetryDelay) {
    /** System property for {@link #quiet} (a duration such as {@code 300ms}). */
    public static final String QUIET_PROPERTY = "ambientj.config.file.quiet";

    /** System property for {@link #settle} (a duration such as {@code 3s}). */
    public static final String SETTLE_PROPERTY = "ambientj.config.file.settle";

    public static final Settings DEFAULT =
        new Settings(Duration.ofMillis(300), Duration.ofSeconds(3), Duration.ofSeconds(10));

    public Settings {
      Objects.requireNonNull(quiet, "quiet");
      Objects.requireNonNull(settle, "settle");
      Objects.requireNonNull(maxRetryDelay, "maxRetryDelay");
      if (quiet.isNegative() || settle.compareTo(quiet) < 0 || maxRetryDelay.isNegative()) {
        throw new IllegalArgumentException(
            "expected 0 <= quiet <= settle and maxRetryDelay >= 0, got " + quiet + ", " + settle
                + ", " + maxRetryDelay);
      }
    }

    /** The defaults, overridden by {@value #QUIET_PROPERTY} and {@value #SETTLE_PROPERTY}. */
    public static Settings fromSystemProperties() {
      Duration quiet = property(QUIET_PROPERTY, DEFAULT.quiet);
      Duration settle = property(SETTLE_PROPERTY, DEFAULT.settle.compareTo(quiet) < 0
          ? quiet : DEFAULT.settle);
      return new Settings(quiet, settle, DEFAULT.maxRetryDelay);
    }

    private static Duration property(String name, Duration fallback) {
      String v = System.getProperty(name);
      if (v == null || v.isBlank()) {
        return fallback;
      }
      try {
        return GoDuration.parse(v.strip());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException(
            "-D" + name + "=" + v + ": expected a duration such as 300ms or 3s");
      }
    }
  }

  /** Reads a file's text (a seam for tests of transient read errors). */
  @FunctionalInterface
  interface TextReader {
    String read(Path file) throws IOException;
  }

  /** A file's objects as read now, its malformed documents, and why it cannot be used (if so). */
  private record Reading(List<HasMetadata> objects, List<MeshYaml.YamlError> yamlErrors,
      List<ConfigRejection> problems) {}

  private final List<Path> files;
  private final SnapshotPublisher out;
  private final MeshTranslator translator;
  private final Settings settings;
  private final TextReader reader;
  private final WatchService watcher;
  private final Thread thread;
  /** Per file, the objects it held when it last could be used. */
  private final Map<Path, List<HasMetadata>> lastGood = new HashMap<>();
  private volatile boolean closed;
  private String lastApplied;
  private volatile List<MeshYaml.YamlError> lastYamlErrors = List.of();

  // Watch thread only.
  private Map<Path, String> seen = Map.of();
  private boolean pending;
  private long lastChangeNanos;
  private long dueNanos;
  private int failures;

  private FileConfigSource(List<Path> files, SnapshotPublisher out, MeshTranslator translator,
      Settings settings, TextReader reader) throws IOException {
    this.files = files.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    this.out = out;
    this.translator = translator;
    this.settings = settings;
    this.reader = reader;
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
   * @throws UncheckedIOException if a file cannot be read or parsed now (the message names the
   *     file, line and column)
   */
  public static FileConfigSource start(List<Path> files, SnapshotPublisher out) {
    return start(files, out, new MeshTranslator());
  }

  public static FileConfigSource start(
      List<Path> files, SnapshotPublisher out, MeshTranslator translator) {
    return start(files, out, translator, Settings.fromSystemProperties());
  }

  public static FileConfigSource start(
      List<Path> files, SnapshotPublisher out, MeshTranslator translator, Settings settings) {
    return start(files, out, translator, settings, f -> Files.readString(f, StandardCharsets.UTF_8));
  }

  static FileConfigSource start(List<Path> files, SnapshotPublisher out, MeshTranslator translator,
      Settings settings, TextReader reader) {
    Objects.requireNonNull(out, "out");
    if (files.isEmpty()) {
      throw new IllegalArgumentException("no configuration files given");
    }
    FileConfigSource source;
    try {
      source = new FileConfigSource(files, out, translator, settings, reader);
      source.seen = source.fingerprints();
      source.apply(source.readAll(), true);
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
        var key = watcher.poll(TICK_MILLIS, TimeUnit.MILLISECONDS);
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
        long now = System.nanoTime();
        if (relevant || now - lastPoll >= TimeUnit.MILLISECONDS.toNanos(POLL_MILLIS)) {
          // An event says "something happened"; the fingerprints say whether it changed a file
          // since the last look, which is what restarts the quiet period.
          Map<Path, String> current = fingerprints();
          if (!current.equals(seen)) {
            seen = current;
            changed(now);
          }
          lastPoll = now;
        }
        if (pending && now - dueNanos >= 0) {
          attempt(now);
        }
      } catch (InterruptedException | ClosedWatchServiceException e) {
        return;
      } catch (RuntimeException e) {
        log.error("mesh configuration reload failed; keeping the current snapshot", e);
        out.reportTransientError("mesh configuration reload failed: " + e);
        pending = false;
      }
    }
  }

  private void changed(long now) {
    pending = true;
    failures = 0;
    lastChangeNanos = now;
    dueNanos = now + settings.quiet().toNanos();
  }

  /** Reads and applies, unless a file is still being written or cannot be read now. */
  private void attempt(long now) {
    Map<Path, String> texts;
    try {
      texts = readAll();
    } catch (IOException e) {
      failures++;
      long delay = Math.min(settings.maxRetryDelay().toNanos(),
          Math.max(settings.quiet().toNanos(), TimeUnit.MILLISECONDS.toNanos(100))
              << Math.min(failures - 1, 16));
      dueNanos = now + delay;
      log.warn("mesh configuration not reloaded: {}; keeping snapshot version {}, retrying in {} ms",
          e.getMessage(), out.snapshot().version(), TimeUnit.NANOSECONDS.toMillis(delay));
      out.reportTransientError("mesh configuration not reloaded: " + e.getMessage());
      return;
    }
    long settleDue = lastChangeNanos + settings.settle().toNanos();
    for (Map.Entry<Path, String> t : texts.entrySet()) {
      String text = t.getValue();
      if (text != null && !text.isEmpty() && !text.endsWith("\n") && now - settleDue < 0) {
        log.debug("{} does not end in a newline; waiting for it to settle", t.getKey());
        dueNanos = settleDue;
        return;
      }
    }
    pending = false;
    apply(texts, false);
  }

  private Map<Path, String> fingerprints() {
    Map<Path, String> m = new LinkedHashMap<>();
    for (Path f : files) {
      m.put(f, fingerprint(f));
    }
    return m;
  }

  private static String fingerprint(Path f) {
    try {
      BasicFileAttributes a = Files.readAttributes(f, BasicFileAttributes.class);
      return a.size() + "@" + a.lastModifiedTime().to(TimeUnit.NANOSECONDS) + "#" + a.fileKey();
    } catch (IOException e) {
      return "missing";
    }
  }

  /**
   * Every file's text; null for a file whose bytes are not UTF-8 (a content problem, reported).
   *
   * @throws IOException when a file cannot be read now (transient)
   */
  private Map<Path, String> readAll() throws IOException {
    Map<Path, String> texts = new LinkedHashMap<>();
    for (Path f : files) {
      try {
        texts.put(f, reader.read(f));
      } catch (CharacterCodingException e) {
        texts.put(f, null);
      }
    }
    return texts;
  }

  private Reading read(Path f, String text) {
    if (text == null) {
      return new Reading(List.of(), List.of(), List.of(fileProblem(f,
          "not UTF-8 text (expected Kubernetes YAML)")));
    }
    MeshYaml.Result r = MeshYaml.load(text, f.toString());
    List<ConfigRejection> problems = new ArrayList<>();
    for (MeshYaml.YamlError e : r.errors()) {
      problems.add(e.toRejection(false));
    }
    r.emptiness(f.toString()).ifPresent(problems::add);
    for (HasMetadata o : r.objects()) {
      if (isBlank(o.getApiVersion()) || isBlank(o.getKind())) {
        problems.add(new ConfigRejection(o.getKind(), MeshTranslator.namespaceOf(o),
            MeshTranslator.nameOf(o), isBlank(o.getKind()) ? "kind" : "apiVersion",
            "missing: not a Kubernetes object (expected apiVersion, kind and metadata)",
            f.toString(), false));
      }
    }
    return new Reading(r.objects(), r.errors(), problems);
  }

  private static ConfigRejection fileProblem(Path f, String problem) {
    return new ConfigRejection("", "", "", "", problem, f.toString(), false);
  }

  private static boolean isBlank(String s) {
    return s == null || s.isBlank();
  }

  /**
   * Translates what every file contributes now and publishes it: the file's objects when it can
   * be used, else its last good ones (at the first load: a start-up error).
   */
  private synchronized void apply(Map<Path, String> texts, boolean first) {
    StringBuilder all = new StringBuilder();
    texts.forEach((f, text) -> all.append(f).append('\0').append(text).append('\0'));
    String combined = all.toString();
    if (!first && combined.equals(lastApplied)) {
      return;
    }
    List<HasMetadata> objects = new ArrayList<>();
    List<ConfigRejection> problems = new ArrayList<>();
    List<MeshYaml.YamlError> errors = new ArrayList<>();
    for (Map.Entry<Path, String> t : texts.entrySet()) {
      Path f = t.getKey();
      Reading reading = read(f, t.getValue());
      errors.addAll(reading.yamlErrors());
      if (reading.problems().isEmpty()) {
        lastGood.put(f, reading.objects());
        objects.addAll(reading.objects());
        continue;
      }
      if (first) {
        throw new UncheckedIOException(new IOException("mesh configuration " + f + " cannot be"
            + " used: " + String.join("; ", reading.problems().stream()
                .map(ConfigRejection::toString).toList())));
      }
      objects.addAll(lastGood.get(f));
      reading.problems().forEach(p -> problems.add(p.keepingPrevious()));
    }
    lastApplied = combined;
    lastYamlErrors = List.copyOf(errors);
    MeshSnapshot snapshot = translator.translate(objects, problems);
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
