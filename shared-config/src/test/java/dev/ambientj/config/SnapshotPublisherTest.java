package dev.ambientj.config;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.MeshSnapshot;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SnapshotPublisherTest {
  @Test
  void emptyBeforeTheFirstPublish() {
    assertThat(new SnapshotPublisher().snapshot()).isSameAs(MeshSnapshot.empty());
  }

  @Test
  void aSubscriberGetsTheCurrentSnapshotThenEveryPublishUntilClosed() throws Exception {
    SnapshotPublisher p = new SnapshotPublisher();
    MeshSnapshot first = Yaml.translate("");
    MeshSnapshot second = Yaml.translate("");
    MeshSnapshot third = Yaml.translate("");
    p.publish(first);
    List<MeshSnapshot> seen = new ArrayList<>();
    AutoCloseable sub = p.subscribe(seen::add);
    p.publish(second);
    sub.close();
    p.publish(third);
    assertThat(seen).containsExactly(first, second);
    assertThat(p.snapshot()).isSameAs(third);
  }

  @Test
  void aFailingListenerDoesNotStopTheOthers() {
    SnapshotPublisher p = new SnapshotPublisher();
    List<MeshSnapshot> seen = new ArrayList<>();
    p.subscribe(
        s -> {
          throw new IllegalStateException("boom");
        });
    p.subscribe(seen::add);
    MeshSnapshot s = Yaml.translate("");
    p.publish(s);
    assertThat(seen).containsExactly(MeshSnapshot.empty(), s);
  }

  @Test
  void transientErrorsReachListeners() {
    SnapshotPublisher p = new SnapshotPublisher();
    List<String> errors = new ArrayList<>();
    p.subscribe(
        new SnapshotListener() {
          @Override
          public void onSnapshot(MeshSnapshot snapshot) {}

          @Override
          public void onTransientError(String message) {
            errors.add(message);
          }
        });
    p.reportTransientError("disk on fire");
    assertThat(errors).containsExactly("disk on fire");
  }
}
