package dev.ambientj.hbone.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SpiffeIdTest {

  @Test
  void parsesAndFormats() {
    SpiffeId id = SpiffeId.parse("spiffe://cluster.local/ns/bookinfo/sa/reviews");
    assertThat(id).isEqualTo(new SpiffeId("cluster.local", "bookinfo", "reviews"));
    assertThat(id.toString()).isEqualTo("spiffe://cluster.local/ns/bookinfo/sa/reviews");
    assertThat(id.principal()).isEqualTo("cluster.local/ns/bookinfo/sa/reviews");
    assertThat(SpiffeId.parse(id.toString())).isEqualTo(id);
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "", "cluster.local/ns/a/sa/b", "http://cluster.local/ns/a/sa/b", "spiffe://cluster.local/ns/a",
      "spiffe://cluster.local/ns/a/sa/", "spiffe://cluster.local/ns//sa/b", "spiffe:///ns/a/sa/b",
      "spiffe://cluster.local/sa/a/ns/b", "spiffe://cluster.local/ns/a/sa/b/extra", "spiffe://Cluster.Local/ns/a/sa/b",
      "spiffe://cluster.local/ns/a b/sa/c"})
  void rejectsAnythingElseWithAClearMessage(String input) {
    assertThatThrownBy(() -> SpiffeId.parse(input))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("'");
  }

  @Test
  void messageShowsTheExpectedForm() {
    assertThatThrownBy(() -> SpiffeId.parse("spiffe://td/ns/a"))
        .hasMessageContaining("spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>");
    assertThatThrownBy(() -> SpiffeId.parse(null)).isInstanceOf(IllegalArgumentException.class);
  }
}
