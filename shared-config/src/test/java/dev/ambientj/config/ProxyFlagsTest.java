package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;

class ProxyFlagsTest {
  @TempDir Path tmp;

  /** A proxy command as ztunnel and waypoint declare the flags. */
  @Command(name = "proxy")
  static final class Proxy {
    @ArgGroup(validate = false, heading = "Config:%n")
    ProxyFlags flags = new ProxyFlags();
  }

  /** The flags as a proxy command's line reads {@code args}. */
  private static ProxyFlags parse(String... args) {
    Proxy p = new Proxy();
    new CommandLine(p).parseArgs(args);
    return p.flags == null ? ProxyFlags.forProxy() : p.flags;
  }

  @Test
  void exactlyOneSource() {
    assertThatThrownBy(parse()::validate)
        .hasMessage("one of --config FILE, --xds HOST:PORT or --kubernetes is required");
    assertThatThrownBy(parse("--kubernetes", "--xds", "127.0.0.1:15010")::validate)
        .hasMessageContaining("only one of");
    assertThatThrownBy(ProxyFlags.configOrKubernetes(List.of(), false)::validate)
        .hasMessage("one of --config FILE or --kubernetes is required");
    assertThatThrownBy(() -> parse("--config")).isInstanceOf(CommandLine.MissingParameterException.class)
        .hasMessageContaining("--config");
  }

  @Test
  void bothFormsOfAValueAndRepeatedConfigs() throws Exception {
    Path a = Files.writeString(tmp.resolve("a.yaml"), "");
    Path b = Files.writeString(tmp.resolve("b.yaml"), "");
    ProxyFlags f = parse("--config=" + a, "--config", b.toString());
    f.validate();
    assertThat(f.configs()).containsExactly(a, b);
    assertThat(f.source()).isEqualTo(ProxyFlags.Source.FILES);
  }

  @Test
  void tlsAndTokenFlagsGoWithTheConfigServer() throws Exception {
    Path token = Files.writeString(tmp.resolve("istio-token"), "t\n");
    Path root = Files.writeString(tmp.resolve("root-cert.pem"), "x");
    ProxyFlags f = parse("--xds", "127.0.0.1:15012", "--ca-address", "127.0.0.1:15012", "--ca-token-file",
        token.toString(), "--ca-root-cert", root.toString());
    f.validate();
    assertThat(f.source()).isEqualTo(ProxyFlags.Source.XDS);
    assertThat(f.tls()).isTrue();
    var o = f.sourceOptions("ztunnel", "z", "ns", "node-a", null);
    assertThat(o.tokenFile()).isEqualTo(token);
    assertThat(o.rootCertFile()).isEqualTo(root);
    assertThat(o.xdsServer().getPort()).isEqualTo(15012);

    assertThatThrownBy(parse("--xds", "127.0.0.1:15012", "--ca-address", "127.0.0.1:15012")::validate)
        .hasMessageContaining("--ca-address needs --ca-token-file");
    assertThatThrownBy(parse("--kubernetes", "--ca-root-cert", root.toString())::validate)
        .hasMessageContaining("--ca-root-cert is for");
    assertThatThrownBy(parse("--xds", "127.0.0.1:15012", "--ca-token-file", tmp.resolve("nope").toString())::validate)
        .hasMessageContaining("cannot read the token");
  }
}
