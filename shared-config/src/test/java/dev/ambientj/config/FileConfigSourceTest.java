package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileConfigSourceTest {
  @TempDir Path dir;

  private static void eventually(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + 10_000_000_000L; // generous: the contract is 1 s
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met within 10 s");
      }
      Thread.sleep(20);
    }
  }

  @Test
  void loadsOnStartAndRepublishesWhenAFileChanges() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Path more = dir.resolve("more.yaml");
    Files.writeString(mesh, Yaml.service("prod", "a", "127.10.0.1", "a"));
    Files.writeString(more, Yaml.namespace("prod"));
    SnapshotPublisher publisher = new SnapshotPublisher();
    List<MeshSnapshot> seen = new CopyOnWriteArrayList<>();
    try (FileConfigSource source = FileConfigSource.start(List.of(mesh, more), publisher)) {
      assertThat(publisher.snapshot().findServiceByHostname("a.prod", "")).isPresent();
      publisher.subscribe(seen::add);
      long before = publisher.snapshot().version();

      Files.writeString(
          mesh,
          Yaml.service("prod", "a", "127.10.0.1", "a")
              + Yaml.service("prod", "b", "127.10.0.2", "b"));
      eventually(() -> publisher.snapshot().findServiceByHostname("b.prod", "").isPresent());
      assertThat(publisher.snapshot().version()).isGreaterThan(before);

      // An editor's write-to-temp-and-rename is seen too.
      Path tmp = dir.resolve(".mesh.yaml.swp");
      Files.writeString(tmp, Yaml.service("prod", "c", "127.10.0.3", "c"));
      Files.move(tmp, mesh, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      eventually(
          () ->
              publisher
                  .snapshot()
                  .findServiceByVip(InetAddress.ofLiteral("127.10.0.3"))
                  .isPresent());
      assertThat(publisher.snapshot().findServiceByHostname("a.prod", "")).isEmpty();
      assertThat(seen).hasSizeGreaterThanOrEqualTo(3);
    }
  }

  private static final FileConfigSource.Settings FAST = new FileConfigSource.Settings(
      java.time.Duration.ofMillis(50), java.time.Duration.ofMillis(500),
      java.time.Duration.ofSeconds(1));

  private static final String A = Yaml.service("prod", "a", "127.10.0.1", "a");
  private static final String B = Yaml.service("prod", "b", "127.10.0.2", "b");

  private FileConfigSource startFast(Path mesh, SnapshotPublisher publisher) {
    return FileConfigSource.start(List.of(mesh), publisher, new MeshTranslator(), FAST);
  }

  /** Waits for a snapshot with a rejection, and returns it. */
  private static ConfigRejection awaitRejection(SnapshotPublisher publisher)
      throws InterruptedException {
    eventually(() -> !publisher.snapshot().rejections().isEmpty());
    return publisher.snapshot().rejections().get(0);
  }

  private static int portOfA(SnapshotPublisher publisher) {
    return publisher.snapshot().findServiceByHostname("a.prod", "").orElseThrow().ports().get(0)
        .port();
  }

  @Test
  void anInvalidObjectOnReloadKeepsItsVersionInForceAndTheRestApplies() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, A);
    SnapshotPublisher publisher = new SnapshotPublisher();
    try (FileConfigSource source = startFast(mesh, publisher)) {
      Files.writeString(mesh, A.replace("port: 80", "port: 0") + B);
      eventually(() -> publisher.snapshot().findServiceByHostname("b.prod", "").isPresent());
      assertThat(publisher.snapshot().rejections()).extracting(ConfigRejection::report)
          .containsExactly("Service prod/a: spec.ports[0].port: 0 (expected 1..65535)"
              + " (rejected; keeping the version in force)");
      assertThat(portOfA(publisher)).isEqualTo(80);
    }
  }

  @Test
  void aDocumentThatCannotBeParsedChangesNothingTheFileContributed() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, A);
    SnapshotPublisher publisher = new SnapshotPublisher();
    try (FileConfigSource source = startFast(mesh, publisher)) {
      // The first document would change a's port; the second is broken: neither applies.
      Files.writeString(mesh, A.replace("port: 80", "port: 81") + B.replace(
          "  name: b\n", "  name: b\n  labels: {app: [unclosed\n"));
      ConfigRejection r = awaitRejection(publisher);
      assertThat(r.toString()).matches(java.util.regex.Pattern.quote(mesh.toString())
          + ":\\d+:\\d+: Service prod/b: document 2: malformed YAML: .*");
      assertThat(r.previousInForce()).isTrue();
      assertThat(portOfA(publisher)).isEqualTo(80);
      assertThat(publisher.snapshot().findServiceByHostname("b.prod", "")).isEmpty();
      assertThat(source.yamlErrors()).hasSize(1);

      Files.writeString(mesh, A + B);
      eventually(() -> publisher.snapshot().findServiceByHostname("b.prod", "").isPresent());
      assertThat(publisher.snapshot().rejections()).isEmpty();
    }
  }

  @Test
  void anEmptyOrGarbageFileKeepsItsLastGoodContent() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, A);
    SnapshotPublisher publisher = new SnapshotPublisher();
    try (FileConfigSource source = startFast(mesh, publisher)) {
      Files.writeString(mesh, "");
      assertThat(awaitRejection(publisher).toString()).startsWith(mesh + ": empty");
      assertThat(portOfA(publisher)).isEqualTo(80);

      Files.write(mesh, new byte[] {(byte) 0xff, (byte) 0xfe, 0x00, 0x41, '\n'});
      eventually(() -> publisher.snapshot().rejections().toString().contains("not UTF-8"));
      assertThat(portOfA(publisher)).isEqualTo(80);

      Files.writeString(mesh, "just: some\nmapping: here\n");
      eventually(() -> publisher.snapshot().rejections().toString()
          .contains("not a Kubernetes object"));
      assertThat(portOfA(publisher)).isEqualTo(80);

      // An empty list is the way to remove every object of a file.
      Files.writeString(mesh, "apiVersion: v1\nkind: List\nitems: []\n");
      eventually(() -> publisher.snapshot().findServiceByHostname("a.prod", "").isEmpty());
      assertThat(publisher.snapshot().rejections()).isEmpty();
    }
  }

  @Test
  void aFileThatCannotBeParsedAtStartIsAStartUpErrorNamingTheLine() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, A + "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n");
    assertThatThrownBy(() -> startFast(mesh, new SnapshotPublisher()))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageMatching(".*" + java.util.regex.Pattern.quote(mesh.toString())
            + ":\\d+:\\d+: Service .*malformed YAML.*");
    Files.writeString(mesh, "\n# nothing\n");
    assertThatThrownBy(() -> startFast(mesh, new SnapshotPublisher()))
        .isInstanceOf(UncheckedIOException.class).hasMessageContaining("empty");
  }

  @Test
  void aChangeIsAppliedOnlyOnceTheFileIsQuiet() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, A);
    SnapshotPublisher publisher = new SnapshotPublisher();
    List<MeshSnapshot> seen = new CopyOnWriteArrayList<>();
    var settings = new FileConfigSource.Settings(java.time.Duration.ofSeconds(2),
        java.time.Duration.ofSeconds(4), java.time.Duration.ofSeconds(1));
    try (FileConfigSource source =
        FileConfigSource.start(List.of(mesh), publisher, new MeshTranslator(), settings)) {
      publisher.subscribe(seen::add);
      // A writer that appends a line at a time: every prefix ends in a newline and parses, and
      // the one before the last is a Service without its ports.
      String full = A + B;
      StringBuilder written = new StringBuilder();
      for (String line : full.split("(?<=\n)")) {
        written.append(line);
        Files.writeString(mesh, written);
        Thread.sleep(20);
      }
      eventually(() -> seen.stream()
          .anyMatch(x -> x.findServiceByHostname("b.prod", "").isPresent()));
      assertThat(seen).as("the first (current) snapshot, then only the complete file").hasSize(2);
      assertThat(publisher.snapshot().rejections()).isEmpty();
    }
  }

  @Test
  void aFileNotEndingInANewlineIsHeldForTheSettlePeriod() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, A);
    SnapshotPublisher publisher = new SnapshotPublisher();
    try (FileConfigSource source = startFast(mesh, publisher)) {
      long start = System.nanoTime();
      Files.writeString(mesh, A + B.stripTrailing());
      eventually(() -> publisher.snapshot().findServiceByHostname("b.prod", "").isPresent());
      assertThat(System.nanoTime() - start).as("held at least the settle period")
          .isGreaterThanOrEqualTo(FAST.settle().toNanos());
    }
  }

  @Test
  void aReloadThatFailedTransientlyIsRetriedWithoutAnotherChange() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, A);
    SnapshotPublisher publisher = new SnapshotPublisher();
    List<String> errors = new CopyOnWriteArrayList<>();
    java.util.concurrent.atomic.AtomicInteger failuresLeft =
        new java.util.concurrent.atomic.AtomicInteger();
    FileConfigSource.TextReader emfileTwice = f -> {
      if (failuresLeft.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
        throw new java.nio.file.FileSystemException(f.toString(), null, "Too many open files");
      }
      return Files.readString(f);
    };
    try (FileConfigSource source = FileConfigSource.start(
        List.of(mesh), publisher, new MeshTranslator(), FAST, emfileTwice)) {
      publisher.subscribe(new SnapshotListener() {
        @Override
        public void onSnapshot(MeshSnapshot snapshot) {}

        @Override
        public void onTransientError(String message) {
          errors.add(message);
        }
      });
      failuresLeft.set(2);
      Files.writeString(mesh, A + B);
      eventually(() -> publisher.snapshot().findServiceByHostname("b.prod", "").isPresent());
      assertThat(errors).hasSize(2).allSatisfy(e -> assertThat(e).contains("Too many open files"));
    }
  }

  @Test
  void aDeletedFileIsATransientErrorAndTheSnapshotStays() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, Yaml.service("prod", "a", "127.10.0.1", "a"));
    SnapshotPublisher publisher = new SnapshotPublisher();
    List<String> errors = new CopyOnWriteArrayList<>();
    try (FileConfigSource source = FileConfigSource.start(List.of(mesh), publisher)) {
      MeshSnapshot loaded = publisher.snapshot();
      publisher.subscribe(
          new SnapshotListener() {
            @Override
            public void onSnapshot(MeshSnapshot snapshot) {}

            @Override
            public void onTransientError(String message) {
              errors.add(message);
            }
          });
      Files.delete(mesh);
      eventually(() -> !errors.isEmpty());
      assertThat(errors.get(0)).contains("mesh.yaml");
      assertThat(publisher.snapshot()).isSameAs(loaded);

      Files.writeString(mesh, A + B);
      eventually(() -> publisher.snapshot().findServiceByHostname("b.prod", "").isPresent());
    }
  }

  @Test
  void aMissingFileFailsTheStart() {
    assertThatThrownBy(
            () ->
                FileConfigSource.start(List.of(dir.resolve("nope.yaml")), new SnapshotPublisher()))
        .isInstanceOf(UncheckedIOException.class)
        .hasMessageContaining("nope.yaml");
  }
}
