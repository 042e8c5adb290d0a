package dev.ambientj.ztunnel.inpod;

import dev.ambientj.config.zds.Netns;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs short tasks inside a pod's network namespace on one dedicated platform thread: {@code
 * setns(pod)}, the task (creating a socket — it stays in that namespace for its whole life), then
 * {@code setns} back to ztunnel's own namespace, opened at start from {@code
 * /proc/thread-self/ns/net} on that very thread.
 *
 * <p>Invariant: between tasks the thread is in ztunnel's namespace. If switching back ever fails
 * the executor is poisoned: every later task fails with the reason (nothing would be safe there).
 * Event loops never block on it: they use {@link #submit}; other threads may use {@link #call}.
 */
public final class NetnsExecutor implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(NetnsExecutor.class);

  private final ExecutorService thread;
  private final int hostNetns;
  private volatile String poisoned;

  public NetnsExecutor() throws IOException {
    this.thread = Executors.newSingleThreadExecutor(r -> {
      Thread t = Thread.ofPlatform().name("ztunnel-netns").daemon(true).unstarted(r);
      return t;
    });
    try {
      this.hostNetns = thread.submit(() -> Netns.open(Path.of("/proc/thread-self/ns/net"))).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      thread.shutdownNow();
      throw new IOException("interrupted while opening ztunnel's own network namespace", e);
    } catch (ExecutionException e) {
      thread.shutdownNow();
      throw new IOException("cannot open ztunnel's own network namespace: "
          + e.getCause().getMessage(), e.getCause());
    }
  }

  /** Runs {@code task} in the namespace {@code netnsFd}; the future completes off the event loops. */
  public <T> CompletableFuture<T> submit(int netnsFd, Callable<T> task) {
    CompletableFuture<T> result = new CompletableFuture<>();
    try {
      thread.execute(() -> {
        try {
          result.complete(runInside(netnsFd, task));
        } catch (Throwable t) {
          result.completeExceptionally(t);
        }
      });
    } catch (java.util.concurrent.RejectedExecutionException e) {
      result.completeExceptionally(new IOException("ztunnel is shutting down"));
    }
    return result;
  }

  /** Runs {@code task} in the namespace and waits for it. Never on an event loop. */
  public <T> T call(int netnsFd, Callable<T> task) throws Exception {
    try {
      return submit(netnsFd, task).get();
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception x ? x : e;
    }
  }

  private <T> T runInside(int netnsFd, Callable<T> task) throws Exception {
    if (poisoned != null) {
      throw new IOException(poisoned);
    }
    Netns.enter(netnsFd);
    try {
      return task.call();
    } finally {
      try {
        Netns.enter(hostNetns);
      } catch (IOException e) {
        poisoned = "cannot return to ztunnel's own network namespace: " + e.getMessage()
            + " — in-pod socket creation is disabled";
        log.error(poisoned);
      }
    }
  }

  @Override
  public void close() {
    try {
      thread.execute(() -> Netns.close(hostNetns)); // after every task already queued
    } catch (java.util.concurrent.RejectedExecutionException alreadyClosed) {
      return;
    }
    thread.shutdown();
  }
}
