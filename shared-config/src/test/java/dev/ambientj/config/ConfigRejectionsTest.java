package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.ConfigRejection;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.PolicyObjects;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.List;
import org.junit.jupiter.api.Test;

class ConfigRejectionsTest {
  private static final ConfigRejection TYPO = new ConfigRejection("AuthorizationPolicy",
      "production", "payment-access", "spec.rules[0].fromm", "unknown field").keepingPrevious();
  private static final ConfigRejection EMPTY =
      new ConfigRejection("", "", "", "", "empty", "/etc/mesh/policies.yaml", true);

  private static MeshSnapshot with(ConfigRejection... rejections) {
    return MeshSnapshot.of(1, "cluster.local", List.of(), List.of(), List.of(), List.of(),
        PolicyObjects.empty(), List.of(rejections));
  }

  @Test
  void countsEachRejectionOnceWhileItLastsAndShowsWhatIsInForceNow() throws Exception {
    SnapshotPublisher publisher = new SnapshotPublisher();
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    try (AutoCloseable metrics = ConfigRejectionMetrics.bind(registry, publisher)) {
      publisher.publish(with(TYPO));
      publisher.publish(with(TYPO, EMPTY)); // another file went bad; the typo is not new
      ConfigRejections r = publisher.rejections();
      assertThat(r.totalByKind()).containsEntry("AuthorizationPolicy", 1L).containsEntry("File", 1L);
      assertThat(r.currentByKind()).containsEntry("AuthorizationPolicy", 1).containsEntry("File", 1);

      publisher.publish(with());
      assertThat(r.currentByKind()).containsEntry("AuthorizationPolicy", 0)
          .containsEntry("File", 0);
      assertThat(registry.get(ConfigRejectionMetrics.CURRENT).tag("kind", "File").gauge().value())
          .isZero();
      publisher.publish(with(TYPO)); // back again: a new occurrence
      assertThat(registry.get(ConfigRejectionMetrics.TOTAL).tag("kind", "AuthorizationPolicy")
          .functionCounter().count()).isEqualTo(2);
      assertThat(registry.get(ConfigRejectionMetrics.CURRENT).tag("kind", "AuthorizationPolicy")
          .gauge().value()).isEqualTo(1);
    }
  }

  @Test
  void theOperatorLineSaysWhatStaysInForce() {
    assertThat(TYPO.report()).isEqualTo("AuthorizationPolicy production/payment-access:"
        + " spec.rules[0].fromm: unknown field (rejected; keeping the version in force)");
    assertThat(EMPTY.report())
        .isEqualTo("/etc/mesh/policies.yaml: empty (rejected; keeping the version in force)");
    assertThat(ConfigRejections.json(with(TYPO))).contains("\"previousInForce\" : true")
        .contains("\"field\" : \"spec.rules[0].fromm\"");
  }
}
