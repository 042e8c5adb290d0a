package dev.ambientj.ztunnel.fairness;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.ambientj.config.model.MeshSnapshot;
import dev.ambientj.config.model.Workload;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fairness inside the node proxy: per source workload, a budget ({@link WorkloadBudget}) on what
 * every workload of the node shares — sockets (open connections), the accept path (new
 * connections per second) and 15008's streams — so that one workload cannot take them from the
 * others. A workload over its budget has its <em>new</em> connections refused (the caller resets
 * or answers them, logs them with {@code OVER_BUDGET} and they are counted in
 * {@code ambientj_fairness_refused_total}); what it already has goes on, and nothing of another
 * workload is touched.
 *
 * <p>Budgets come from ztunnel's defaults ({@code --workload-max-connections} and friends), and a
 * pod may override them with annotations ({@link WorkloadBudget#MAX_CONNECTIONS} …), resolved once
 * per workload instance of a snapshot. An override that does not parse is logged and ignored:
 * the default stays in force.
 *
 * <p>Invariants: a key's open count never exceeds its budget (slots are taken with
 * compare-and-set); every slot taken is given back exactly once (when the channel, or the
 * stream, closes); the rate is a virtual-scheduling token bucket (GCRA) on one atomic: a
 * connection is admitted when it arrives no more than one second ahead of its slot. Keys are the
 * workload's uid (outbound) or the remote source (inbound); a key's state is dropped when it has
 * nothing open and no rate debt.
 *
 * <p>Thread-safe and lock-free: called from every event loop.
 */
public final class WorkloadBudgets {
  private static final Logger log = LoggerFactory.getLogger(WorkloadBudgets.class);

  /** Counter of refused connections and streams. */
  public static final String REFUSED = "ambientj.fairness.refused";

  /** Which budget refused. */
  public enum Budget {
    CONNECTIONS("connections"), CONNECTION_RATE("connection_rate"), STREAMS("streams");

    private final String label;

    Budget(String label) {
      this.label = label;
    }

    public String label() {
      return label;
    }
  }

  /** A refusal: which budget, its limit, and a line for the access log. */
  public record Refusal(Budget budget, int limit, String message) {}

  private static final long SECOND = TimeUnit.SECONDS.toNanos(1);
  private static final int SWEEP_AT = 1_024;

  private final WorkloadBudget defaults;
  private final MeterRegistry registry;
  private final LongSupplier nanoClock;
  private final Cache<Workload, WorkloadBudget> resolved = Caffeine.newBuilder().weakKeys().build();
  private final Cache<MeshSnapshot, Map<String, Workload>> byIdentity =
      Caffeine.newBuilder().weakKeys().build();
  private final ConcurrentMap<String, Usage> outbound = new ConcurrentHashMap<>();
  private final ConcurrentMap<String, Usage> inbound = new ConcurrentHashMap<>();

  /** @param defaults the budget of a workload without overrides; null: fairness off */
  public WorkloadBudgets(WorkloadBudget defaults, MeterRegistry registry, LongSupplier nanoClock) {
    this.defaults = defaults;
    this.registry = registry;
    this.nanoClock = nanoClock;
  }

  public boolean enabled() {
    return defaults != null;
  }

  /** The budget of {@code workload} (null: a source the snapshot does not know — the defaults). */
  public WorkloadBudget budgetOf(Workload workload) {
    if (workload == null || workload.annotations().isEmpty()) {
      return defaults;
    }
    return resolved.get(workload, w -> {
      List<String> errors = new ArrayList<>();
      WorkloadBudget b = defaults.overriddenBy(w.annotations(), errors);
      for (String e : errors) {
        log.warn("pod {}/{}: {}", w.namespace(), w.name(), e);
      }
      return b;
    });
  }

  /**
   * Admits a new outbound connection of {@code source}: one slot of its connections until
   * {@code closed} completes, and one of its connection rate. Null when admitted (or fairness is
   * off), else the refusal, already counted.
   */
  public Refusal admitOutbound(Workload source, Future<?> closed) {
    if (defaults == null) {
      return null;
    }
    WorkloadBudget budget = budgetOf(source);
    Usage usage = acquire(outbound, source.uid(), budget.maxConnections());
    if (usage == null) {
      return refused(source.namespace(), source.name(), Budget.CONNECTIONS,
          budget.maxConnections(), "workload " + source.namespace() + "/" + source.name()
              + " holds its budget of " + budget.maxConnections() + " connections ("
              + WorkloadBudget.MAX_CONNECTIONS + ")");
    }
    if (!usage.tryRate(budget.maxConnectionRate(), nanoClock.getAsLong())) {
      release(outbound, source.uid(), usage);
      return refused(source.namespace(), source.name(), Budget.CONNECTION_RATE,
          budget.maxConnectionRate(), "workload " + source.namespace() + "/" + source.name()
              + " opens connections faster than its budget of " + budget.maxConnectionRate()
              + " a second (" + WorkloadBudget.MAX_CONNECTION_RATE + ")");
    }
    releaseOn(closed, outbound, source.uid(), usage);
    return null;
  }

  /**
   * Admits an HBONE stream from a remote source: {@code key} names it (its uid when the snapshot
   * knows the workload, else its SPIFFE id), {@code source} is that workload or null. One slot
   * until {@code closed} completes; null when admitted, else the refusal, already counted.
   */
  public Refusal admitStream(String key, Workload source, String describe, Future<?> closed) {
    if (defaults == null) {
      return null;
    }
    WorkloadBudget budget = budgetOf(source);
    Usage usage = acquire(inbound, key, budget.maxStreams());
    if (usage == null) {
      return refused(source == null ? "-" : source.namespace(),
          source == null ? "-" : source.name(), Budget.STREAMS, budget.maxStreams(),
          describe + " holds its budget of " + budget.maxStreams() + " HBONE streams on this node ("
              + WorkloadBudget.MAX_STREAMS + ")");
    }
    releaseOn(closed, inbound, key, usage);
    return null;
  }

  /**
   * A workload of {@code snapshot} with the SPIFFE id {@code identity} (the first by uid), or
   * null: whose budget applies to a remote source known by its proven identity only (its
   * connections do not come from its pod's address, e.g. host mode or through a waypoint). The
   * index is built once per snapshot.
   */
  public Workload findByIdentity(MeshSnapshot snapshot, String identity) {
    if (defaults == null || identity == null) {
      return null;
    }
    return byIdentity.get(snapshot, s -> {
      Map<String, Workload> index = new HashMap<>();
      s.workloads().stream().sorted(Comparator.comparing(Workload::uid))
          .forEach(w -> index.putIfAbsent(w.spiffeId(), w));
      return index;
    }).get(identity);
  }

  /** Connections open now through outbound listeners of {@code uid} (tests, admin). */
  public int outboundConnections(String uid) {
    Usage u = outbound.get(uid);
    return u == null ? 0 : Math.max(0, u.open.get());
  }

  /** Streams open now from the remote source {@code key}. */
  public int inboundStreams(String key) {
    Usage u = inbound.get(key);
    return u == null ? 0 : Math.max(0, u.open.get());
  }

  private Refusal refused(String namespace, String workload, Budget budget, int limit,
      String message) {
    Counter.builder(REFUSED)
        .description("New connections (outbound) and HBONE streams (inbound) refused because"
            + " their source workload was over its fairness budget")
        .tags("workload_namespace", namespace, "workload", workload, "budget", budget.label())
        .register(registry).increment();
    return new Refusal(budget, limit, message);
  }

  /** A slot of {@code key} under {@code max}, or null when full. */
  private Usage acquire(ConcurrentMap<String, Usage> map, String key, int max) {
    for (;;) {
      Usage u = map.get(key);
      if (u == null) {
        if (map.size() >= SWEEP_AT) {
          sweep(map);
        }
        Usage fresh = new Usage();
        u = map.putIfAbsent(key, fresh);
        if (u == null) {
          u = fresh;
        }
      }
      int n = u.open.get();
      if (n < 0) { // retired by a release racing with us: look again
        map.remove(key, u);
        continue;
      }
      if (n >= max) {
        return null;
      }
      if (u.open.compareAndSet(n, n + 1)) {
        return u;
      }
    }
  }

  private void releaseOn(Future<?> closed, ConcurrentMap<String, Usage> map, String key,
      Usage usage) {
    AtomicBoolean once = new AtomicBoolean();
    closed.addListener(f -> {
      if (once.compareAndSet(false, true)) {
        release(map, key, usage);
      }
    });
  }

  private void release(ConcurrentMap<String, Usage> map, String key, Usage usage) {
    if (usage.open.decrementAndGet() == 0 && usage.idle(nanoClock.getAsLong())
        && usage.open.compareAndSet(0, -1)) {
      map.remove(key, usage);
    }
  }

  /** Drops the state of keys with nothing open and no rate debt (bounds the maps). */
  private void sweep(ConcurrentMap<String, Usage> map) {
    long now = nanoClock.getAsLong();
    map.forEach((k, u) -> {
      if (u.open.get() == 0 && u.idle(now) && u.open.compareAndSet(0, -1)) {
        map.remove(k, u);
      }
    });
  }

  /** One key's state: open slots (-1 once retired) and the rate's theoretical arrival time. */
  private static final class Usage {
    final AtomicInteger open = new AtomicInteger();
    final AtomicLong nextArrival = new AtomicLong(Long.MIN_VALUE);

    /** GCRA: each arrival moves the schedule one interval on; refused if it runs a second ahead. */
    boolean tryRate(int perSecond, long now) {
      long interval = SECOND / perSecond;
      for (;;) {
        long tat = nextArrival.get();
        long base = tat == Long.MIN_VALUE || tat < now ? now : tat;
        long next = base + interval;
        if (next - now > SECOND) {
          return false;
        }
        if (nextArrival.compareAndSet(tat, next)) {
          return true;
        }
      }
    }

    boolean idle(long now) {
      long tat = nextArrival.get();
      return tat == Long.MIN_VALUE || tat <= now;
    }
  }
}
