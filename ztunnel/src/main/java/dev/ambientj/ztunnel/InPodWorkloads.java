package dev.ambientj.ztunnel;

import dev.ambientj.ztunnel.inpod.InPodListenerBinder;
import dev.ambientj.ztunnel.inpod.PodNetwork;
import dev.ambientj.ztunnel.inpod.ZdsClient;
import dev.ambientj.ztunnel.telemetry.WorkloadManagerMetrics;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies ZDS requests to the listener manager: an Add registers the pod's namespace with the
 * {@link InPodListenerBinder}, re-applies the snapshot (which binds the pod's listeners inside its
 * namespace) and answers once they are bound; a Del or the end of a snapshot unregisters pods,
 * drains their listeners and then closes their namespace descriptors.
 *
 * <p>The workload must be in ztunnel's configuration (matched by pod uid, else namespace/name):
 * an Add waits for it up to {@link #CONFIG_WAIT} (below the node agent's 5 s deadline), then
 * NACKs — the pod stays registered and is served as soon as the configuration names it.
 * Runs on the ZDS thread only (never an event loop).
 */
final class InPodWorkloads implements ZdsClient.Handler {
  private static final Logger log = LoggerFactory.getLogger(InPodWorkloads.class);
  static final Duration CONFIG_WAIT = Duration.ofSeconds(4);

  private final InPodListenerBinder binder;
  private final ListenerManager manager;
  private final String node;
  private final WorkloadManagerMetrics metrics;

  InPodWorkloads(InPodListenerBinder binder, ListenerManager manager, String node,
      WorkloadManagerMetrics metrics) {
    this.binder = binder;
    this.manager = manager;
    this.node = node;
    this.metrics = metrics;
  }

  /**
   * Counts the pods handed over into the workload manager's gauges: active when their listeners
   * are bound, pending otherwise (not in the configuration yet, or a bind to retry). Called after
   * every request and by the retry timer; never on an event loop (the manager's lookups lock).
   */
  void recount() {
    int active = 0;
    int pending = 0;
    for (PodNetwork pod : binder.pods()) {
      CompletableFuture<Boolean> bound = manager.findBound(w -> InPodListenerBinder.matches(w, pod));
      if (bound != null && bound.isDone() && !bound.isCompletedExceptionally() && bound.join()) {
        active++;
      } else {
        pending++;
      }
    }
    metrics.set(active, pending);
  }

  @Override
  public String add(String uid, String namespace, String name, String serviceAccount, int netnsFd) {
    try {
      String error = doAdd(uid, namespace, name, serviceAccount, netnsFd);
      if (error.isEmpty()) {
        metrics.started();
      }
      return error;
    } finally {
      recount();
    }
  }

  private String doAdd(String uid, String namespace, String name, String serviceAccount,
      int netnsFd) {
    InPodListenerBinder.Registration reg;
    try {
      reg = binder.register(uid, namespace, name, serviceAccount, netnsFd);
    } catch (IOException e) {
      return "pod " + namespace + "/" + name + ": " + e.getMessage();
    }
    PodNetwork pod = reg.pod();
    manager.refresh();
    if (reg.replaced() != null) {
      reg.replaced().close(); // listeners were re-created in the new namespace by the refresh
    }
    long deadline = System.nanoTime() + CONFIG_WAIT.toNanos();
    try {
      CompletableFuture<Boolean> bound;
      while ((bound = manager.findBound(w -> InPodListenerBinder.matches(w, pod))) == null) {
        if (System.nanoTime() > deadline) {
          return "pod " + namespace + "/" + name + " (uid " + uid + ") is not in ztunnel's"
              + " configuration for node " + node + " (yet): not enrolled, or config not synced";
        }
        TimeUnit.MILLISECONDS.sleep(25);
      }
      long left = Math.max(1, deadline - System.nanoTime());
      if (!bound.get(left, TimeUnit.NANOSECONDS)) {
        manager.refresh(); // a failed bind is retried now rather than on the next config change
        return "cannot listen in pod " + namespace + "/" + name
            + " on 15001/15006/15008/15080 (see ztunnel's log)";
      }
      log.info("in-pod: serving {} in its network namespace", pod);
      return "";
    } catch (TimeoutException e) {
      return "pod " + namespace + "/" + name + ": listeners not bound within " + CONFIG_WAIT.toSeconds() + " s";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "ztunnel is shutting down";
    } catch (ExecutionException e) {
      return "pod " + namespace + "/" + name + ": " + e.getCause().getMessage();
    }
  }

  @Override
  public String delete(String uid) {
    PodNetwork pod = binder.unregister(uid);
    if (pod == null) {
      return ""; // already gone: deleting is idempotent
    }
    manager.refresh();
    pod.close();
    metrics.stopped();
    recount();
    log.info("in-pod: stopped serving {}", pod);
    return "";
  }

  @Override
  public String snapshotSent(Set<String> named) {
    List<PodNetwork> gone = binder.retainOnly(named);
    manager.refresh();
    for (PodNetwork p : gone) {
      log.info("in-pod: {} is not in the node agent's snapshot: drained", p);
      p.close();
      metrics.stopped();
    }
    recount();
    return "";
  }

  /**
   * Ready from the node agent's first snapshot on. A later disconnect (the agent restarting or
   * being upgraded) changes nothing for traffic — the pods' rules stay, their listeners too — so
   * it does not make this ztunnel unready either, as with Istio's ztunnel; the agent resends its
   * snapshot when it is back.
   */
  @Override
  public void ready(boolean ready) {
    if (ready) {
      binder.ready(true);
    } else if (binder.ready()) {
      log.info("in-pod: the node agent disconnected; serving the {} pods it handed over until it"
          + " is back", binder.podCount());
    }
  }
}
