package dev.ambientj.hbone;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HostAndPortTest {

  @Test
  void parsesIpv4Ipv6AndHostnames() {
    assertThat(HostAndPort.parse("10.0.0.5:8080")).isEqualTo(new HostAndPort("10.0.0.5", 8080));
    assertThat(HostAndPort.parse("10.0.0.5:8080").isIpLiteral()).isTrue();
    HostAndPort v6 = HostAndPort.parse("[fd00::1]:443");
    assertThat(v6.host()).isEqualTo("fd00::1");
    assertThat(v6.toString()).isEqualTo("[fd00::1]:443");
    assertThat(v6.ipAddress()).isNotNull();
    HostAndPort svc = HostAndPort.parse("reviews.bookinfo.svc.cluster.local:9080");
    assertThat(svc.isIpLiteral()).isFalse();
    assertThat(svc.ipAddress()).isNull();
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "10.0.0.5", "10.0.0.5:", ":80", "host:0", "host:65536", "host:http", "fd00::1:80",
      "[fd00::1]", "[fd00::1", "[nothex]:80"})
  void rejects(String bad) {
    assertThatThrownBy(() -> HostAndPort.parse(bad)).isInstanceOf(IllegalArgumentException.class);
  }
}
