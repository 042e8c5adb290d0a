package dev.ambientj.it;

import dev.ambientj.launcher.demo.Socks5Client;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Two callers that keep connecting, one connection after another, through their own pod's SOCKS5
 * listener to one TCP echo destination while the configuration is rewritten: the one a policy
 * denies and the one it allows. Each attempt sends a line and waits for its echo; an echo means
 * the connection was let in, a SOCKS5 refusal or a close without echo that it was not. Outcomes
 * are counted per phase (the bad write being tested), so that a report says, per write, how often
 * the denied caller got in and the allowed one was turned away.
 */
final class AccessProbe implements AutoCloseable {
  /** Counts of one phase. */
  static final class Counts {
    final AtomicLong deniedAttempts = new AtomicLong();
    final AtomicLong deniedLetIn = new AtomicLong();
    final AtomicLong allowedAttempts = new AtomicLong();
    final AtomicLong allowedRefused = new AtomicLong();
    /**
     * Attempts of the allowed caller that got no answer within the timeout: a loaded machine, not
     * a decision of the proxy (a denial is a SOCKS5 refusal or a reset, at once).
     */
    final AtomicLong allowedTimedOut = new AtomicLong();

    @Override
    public String toString() {
      return "denied caller let in " + deniedLetIn + "/" + deniedAttempts
          + ", allowed caller refused " + allowedRefused + "/" + allowedAttempts
          + (allowedTimedOut.get() == 0 ? "" : " (" + allowedTimedOut + " more timed out)");
    }
  }

  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  private final InetSocketAddress allowedSocks;
  private final InetSocketAddress deniedSocks;
  private final String host;
  private final int port;
  private final Map<String, Counts> phases = new LinkedHashMap<>();
  private volatile Counts current;
  private volatile boolean stopped;
  private final Thread[] threads = new Thread[2];

  AccessProbe(InetSocketAddress allowedSocks, InetSocketAddress deniedSocks, String host,
      int port) {
    this.allowedSocks = allowedSocks;
    this.deniedSocks = deniedSocks;
    this.host = host;
    this.port = port;
  }

  AccessProbe start(String firstPhase) {
    phase(firstPhase);
    threads[0] = Thread.ofPlatform().daemon().name("probe-allowed").start(() -> loop(true));
    threads[1] = Thread.ofPlatform().daemon().name("probe-denied").start(() -> loop(false));
    return this;
  }

  /** Counts the following attempts under {@code name}; returns its counts. */
  synchronized Counts phase(String name) {
    current = phases.computeIfAbsent(name, n -> new Counts());
    return current;
  }

  synchronized Map<String, Counts> phases() {
    return new LinkedHashMap<>(phases);
  }

  /** One line per phase. */
  String report() {
    StringBuilder b = new StringBuilder();
    phases().forEach((name, c) -> b.append(String.format("  %-42s %s%n", name, c)));
    return b.toString();
  }

  private void loop(boolean allowed) {
    int n = 0;
    while (!stopped) {
      Counts c = current;
      Outcome outcome = attempt(allowed ? allowedSocks : deniedSocks, "probe-" + n++ + "\n");
      boolean in = outcome == Outcome.ECHOED;
      if (allowed) {
        c.allowedAttempts.incrementAndGet();
        if (outcome == Outcome.TIMED_OUT) {
          c.allowedTimedOut.incrementAndGet();
        } else if (!in) {
          c.allowedRefused.incrementAndGet();
        }
      } else {
        c.deniedAttempts.incrementAndGet();
        if (in) {
          c.deniedLetIn.incrementAndGet();
        }
      }
    }
  }

  private enum Outcome { ECHOED, REFUSED, TIMED_OUT }

  /** Whether a connection through {@code socks} echoed {@code line}, was refused, or timed out. */
  private Outcome attempt(InetSocketAddress socks, String line) {
    try (Socket s = Socks5Client.connect(socks, host, port, TIMEOUT)) {
      s.setSoTimeout((int) TIMEOUT.toMillis());
      byte[] bytes = line.getBytes(StandardCharsets.US_ASCII);
      s.getOutputStream().write(bytes);
      s.getOutputStream().flush();
      InputStream in = s.getInputStream();
      return new String(in.readNBytes(bytes.length), StandardCharsets.US_ASCII).equals(line)
          ? Outcome.ECHOED : Outcome.REFUSED;
    } catch (java.net.SocketTimeoutException e) {
      return Outcome.TIMED_OUT; // not let in either
    } catch (IOException e) {
      return Outcome.REFUSED; // refused (SOCKS5 reply 2), reset or closed: not let in
    }
  }

  @Override
  public void close() throws InterruptedException {
    stopped = true;
    for (Thread t : threads) {
      if (t != null) {
        t.join(TIMEOUT.toMillis() * 2);
      }
    }
  }
}
