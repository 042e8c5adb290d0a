package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

  @Test
  void anInvalidObjectOrBadDocumentOnReloadLeavesTheRestApplied() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, Yaml.service("prod", "a", "127.10.0.1", "a"));
    SnapshotPublisher publisher = new SnapshotPublisher();
    try (FileConfigSource source = FileConfigSource.start(List.of(mesh), publisher)) {
      Files.writeString(
          mesh,
          Yaml.service("prod", "a", "127.10.0.1", "a").replace("port: 80", "port: 0")
              + "key: [unclosed\n---\n"
              + Yaml.service("prod", "b", "127.10.0.2", "b"));
      eventually(() -> publisher.snapshot().findServiceByHostname("b.prod", "").isPresent());
      assertThat(publisher.snapshot().rejections())
          .extracting(Object::toString)
          .containsExactly("Service prod/a: spec.ports[0].port: 0 (expected 1..65535)");
      assertThat(source.yamlErrors()).hasSize(1);
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
