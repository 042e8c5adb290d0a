package dev.ambientj.ztunnel.fairness;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.config.model.TunnelProtocol;
import dev.ambientj.config.model.Workload;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.netty.util.concurrent.Promise;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class WorkloadBudgetsTest {
  private final AtomicLong now = new AtomicLong(1_000_000_000L);
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  private static Workload pod(String name, Map<String, String> annotations) {
    return new Workload("uid-" + name, name, "ns", "sa", "cluster.local", "node-a", List.of(),
        Map.of(), true, TunnelProtocol.HBONE, null, true, null, null, null, annotations);
  }

  private static Promise<Void> open() {
    return ImmediateEventExecutor.INSTANCE.newPromise();
  }

  private WorkloadBudgets budgets(int connections, int rate, int streams) {
    return new WorkloadBudgets(new WorkloadBudget(connections, rate, streams), registry, now::get);
  }

  private double refused(String workload, String budget) {
    var c = registry.find(WorkloadBudgets.REFUSED).tags("workload", workload, "budget", budget)
        .counter();
    return c == null ? 0 : c.count();
  }

  @Test
  void connectionsAreRefusedPastTheBudgetAndFreedWhenTheyClose() {
    WorkloadBudgets b = budgets(2, 1_000, 10);
    Workload flooder = pod("flooder", Map.of());
    Promise<Void> first = open();
    assertThat(b.admitOutbound(flooder, first)).isNull();
    assertThat(b.admitOutbound(flooder, open())).isNull();

    WorkloadBudgets.Refusal third = b.admitOutbound(flooder, open());

    assertThat(third.budget()).isEqualTo(WorkloadBudgets.Budget.CONNECTIONS);
    assertThat(third.message()).contains("ns/flooder holds its budget of 2 connections");
    assertThat(refused("flooder", "connections")).isEqualTo(1);
    assertThat(b.admitOutbound(pod("neighbour", Map.of()), open())).as("per workload").isNull();
    first.setSuccess(null);
    assertThat(b.outboundConnections("uid-flooder")).isEqualTo(1);
    assertThat(b.admitOutbound(flooder, open())).isNull();
  }

  @Test
  void theRateAllowsABurstOfOneSecondThenOneConnectionPerInterval() {
    WorkloadBudgets b = budgets(1_000, 10, 10);
    Workload stormer = pod("stormer", Map.of());
    int admitted = 0;
    for (int i = 0; i < 25; i++) {
      if (b.admitOutbound(stormer, open()) == null) {
        admitted++;
      }
    }
    assertThat(admitted).as("a second's worth at once").isEqualTo(10);
    assertThat(refused("stormer", "connection_rate")).isEqualTo(15);
    assertThat(b.outboundConnections("uid-stormer")).as("refused ones hold no slot").isEqualTo(10);

    now.addAndGet(TimeUnit.MILLISECONDS.toNanos(100));
    assertThat(b.admitOutbound(stormer, open())).as("one interval later").isNull();
    assertThat(b.admitOutbound(stormer, open())).isNotNull();
  }

  @Test
  void annotationsOverrideTheDefaultsAndABadOneLeavesTheDefaultInForce() {
    WorkloadBudgets b = budgets(100, 1_000, 100);
    Workload tight = pod("tight", Map.of(WorkloadBudget.MAX_CONNECTIONS, "1",
        WorkloadBudget.MAX_STREAMS, "2"));
    Workload bad = pod("bad", Map.of(WorkloadBudget.MAX_CONNECTIONS, "-3",
        WorkloadBudget.MAX_CONNECTION_RATE, "lots"));

    assertThat(b.budgetOf(tight)).isEqualTo(new WorkloadBudget(1, 1_000, 2));
    assertThat(b.budgetOf(bad)).isEqualTo(new WorkloadBudget(100, 1_000, 100));
    List<String> errors = new ArrayList<>();
    new WorkloadBudget(100, 1_000, 100).overriddenBy(bad.annotations(), errors);
    assertThat(errors).anySatisfy(e -> assertThat(e).contains(
        "annotation ambientj.dev/max-connections: '-3' (expected: a whole number >= 1)"));
    assertThat(b.admitOutbound(tight, open())).isNull();
    assertThat(b.admitOutbound(tight, open())).isNotNull();
  }

  @Test
  void streamsFromOneRemoteSourceAreBoundedPerSource() {
    WorkloadBudgets b = budgets(100, 1_000, 2);
    Promise<Void> s1 = open();
    assertThat(b.admitStream("spiffe://td/ns/x/sa/a", null, "peer a", s1)).isNull();
    assertThat(b.admitStream("spiffe://td/ns/x/sa/a", null, "peer a", open())).isNull();

    WorkloadBudgets.Refusal third = b.admitStream("spiffe://td/ns/x/sa/a", null, "peer a", open());

    assertThat(third.budget()).isEqualTo(WorkloadBudgets.Budget.STREAMS);
    assertThat(third.message()).isEqualTo(
        "peer a holds its budget of 2 HBONE streams on this node (ambientj.dev/max-streams)");
    assertThat(b.admitStream("spiffe://td/ns/x/sa/b", null, "peer b", open())).isNull();
    s1.setSuccess(null);
    assertThat(b.inboundStreams("spiffe://td/ns/x/sa/a")).isEqualTo(1);
  }

  @Test
  void offAdmitsEverything() {
    WorkloadBudgets b = new WorkloadBudgets(null, registry, now::get);
    Workload w = pod("w", Map.of(WorkloadBudget.MAX_CONNECTIONS, "1"));
    for (int i = 0; i < 10; i++) {
      assertThat(b.admitOutbound(w, open())).isNull();
      assertThat(b.admitStream("k", w, "w", open())).isNull();
    }
    assertThat(b.enabled()).isFalse();
  }

  @Test
  void aKeyWithNothingOpenAndNoRateDebtIsForgotten() {
    WorkloadBudgets b = budgets(10, 1_000, 10);
    Promise<Void> closed = open();
    assertThat(b.admitOutbound(pod("brief", Map.of()), closed)).isNull();
    now.addAndGet(TimeUnit.SECONDS.toNanos(2));
    closed.setSuccess(null);
    assertThat(b.outboundConnections("uid-brief")).isZero();
    assertThat(b.admitOutbound(pod("brief", Map.of()), open())).as("a fresh key works").isNull();
  }
}
