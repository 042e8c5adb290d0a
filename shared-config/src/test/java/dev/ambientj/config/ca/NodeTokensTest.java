package dev.ambientj.config.ca;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.ambientj.config.SnapshotPublisher;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeTokensTest {
  @TempDir Path tmp;

  @Test
  void everyNodeOfTheMeshGetsAnOwnerOnlyTokenThatSurvivesARestart() throws Exception {
    Path dir = tmp.resolve("node-tokens");
    SnapshotPublisher publisher = new SnapshotPublisher();
    publisher.publish(TestPki.exampleMesh());
    NodeTokens tokens = NodeTokens.open(dir);
    publisher.subscribe(tokens);

    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
    for (String node : new String[] {"node-a", "node-b"}) {
      Path f = tokens.tokenFile(node);
      assertThat(f).exists();
      assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(f))).isEqualTo("rw-------");
      String token = NodeTokens.readToken(dir, node);
      assertThat(token).hasSize(43);
      assertThat(tokens.findNode(token)).contains(node);
      assertThat(tokens.findNode("Bearer " + token)).isEmpty();
    }
    String a = NodeTokens.readToken(dir, "node-a");
    assertThat(a).isNotEqualTo(NodeTokens.readToken(dir, "node-b"));

    NodeTokens reopened = NodeTokens.open(dir);
    reopened.onSnapshot(publisher.snapshot());
    assertThat(NodeTokens.readToken(dir, "node-a")).isEqualTo(a);
    assertThat(reopened.findNode(a)).contains("node-a");
    assertThat(reopened.findNode("nope")).isEmpty();
    assertThat(reopened.findNode("")).isEmpty();
    assertThat(reopened.findNode(null)).isEmpty();
  }

  @Test
  void aNodeNameThatCouldEscapeTheDirectoryGetsNoToken() throws Exception {
    NodeTokens tokens = NodeTokens.open(tmp.resolve("t"));
    assertThatThrownBy(() -> tokens.ensureToken("../evil"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("DNS-1123");
    assertThat(tmp.resolve("evil.token")).doesNotExist();
  }
}
