package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProxyFlagsTest {
  @TempDir Path tmp;

  /** Feeds {@code args} as a command's loop does; returns what was not ours. */
  private static String rest(ProxyFlags flags, String... args) {
    StringBuilder rest = new StringBuilder();
    for (int i = 0; i < args.length; i++) {
      int used = flags.accept(args, i);
      if (used >= 0) {
        i = used;
      } else {
        rest.append(args[i]).append(' ');
      }
    }
    return rest.toString().strip();
  }

  @Test
  void exactlyOneSource() {
    ProxyFlags none = ProxyFlags.forProxy();
    assertThat(rest(none, "--node", "a")).isEqualTo("--node a");
    assertThatThrownBy(none::validate)
        .hasMessage("one of --config FILE, --xds HOST:PORT or --kubernetes is required");
    ProxyFlags two = ProxyFlags.forProxy();
    rest(two, "--kubernetes", "--xds", "127.0.0.1:15010");
    assertThatThrownBy(two::validate).hasMessageContaining("only one of");
    ProxyFlags cni = ProxyFlags.configOrKubernetes();
    assertThat(rest(cni, "--xds", "127.0.0.1:15010")).as("not a cni-agent flag").isEqualTo("--xds 127.0.0.1:15010");
    assertThatThrownBy(cni::validate).hasMessage("one of --config FILE or --kubernetes is required");
    assertThatThrownBy(() -> rest(ProxyFlags.forProxy(), "--config")).hasMessage("--config needs a value");
  }

  @Test
  void tlsAndTokenFlagsGoWithTheConfigServer() throws Exception {
    Path token = Files.writeString(tmp.resolve("istio-token"), "t\n");
    Path root = Files.writeString(tmp.resolve("root-cert.pem"), "x");
    ProxyFlags f = ProxyFlags.forProxy();
    rest(f, "--xds", "127.0.0.1:15012", "--ca-address", "127.0.0.1:15012", "--ca-token-file",
        token.toString(), "--ca-root-cert", root.toString());
    f.validate();
    assertThat(f.source()).isEqualTo(ProxyFlags.Source.XDS);
    assertThat(f.tls()).isTrue();
    var o = f.sourceOptions("ztunnel", "z", "ns", "node-a", null);
    assertThat(o.tokenFile()).isEqualTo(token);
    assertThat(o.rootCertFile()).isEqualTo(root);
    assertThat(o.xdsServer().getPort()).isEqualTo(15012);

    ProxyFlags noToken = ProxyFlags.forProxy();
    rest(noToken, "--xds", "127.0.0.1:15012", "--ca-address", "127.0.0.1:15012");
    assertThatThrownBy(noToken::validate).hasMessageContaining("--ca-address needs --ca-token-file");
    ProxyFlags rootWithFiles = ProxyFlags.forProxy();
    rest(rootWithFiles, "--kubernetes", "--ca-root-cert", root.toString());
    assertThatThrownBy(rootWithFiles::validate).hasMessageContaining("--ca-root-cert is for");
    ProxyFlags missing = ProxyFlags.forProxy();
    rest(missing, "--xds", "127.0.0.1:15012", "--ca-token-file", tmp.resolve("nope").toString());
    assertThatThrownBy(missing::validate).hasMessageContaining("cannot read the token");
  }
}
