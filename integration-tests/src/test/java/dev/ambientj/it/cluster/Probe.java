package dev.ambientj.it.cluster;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * One probe of a container ({@code readinessProbe}, {@code livenessProbe} or {@code startupProbe})
 * with the kubelet's bookkeeping: first run after {@code initialDelaySeconds}, then every {@code
 * periodSeconds}; {@code successThreshold} successes in a row flip it to passing, {@code
 * failureThreshold} failures to failing; each attempt is bounded by {@code timeoutSeconds}. The
 * kubelet probes from the node: {@code httpGet} (any 2xx/3xx passes) and {@code tcpSocket} to the
 * pod IP (or {@code host}), from the node's network namespace.
 */
final class Probe {
  interface NodeDialer {
    /** A socket in the node's network namespace, connected to {@code to}. */
    Socket connect(InetSocketAddress to, int timeoutMillis) throws IOException;
  }

  final String kind;
  private final io.fabric8.kubernetes.api.model.Probe spec;
  private final Container container;
  private final int period;
  private final int timeout;
  private final int successThreshold;
  private final int failureThreshold;
  private long nextAt;
  private int successes;
  private int failures;
  private boolean passing;
  private String lastResult = "not run yet";

  Probe(String kind, io.fabric8.kubernetes.api.model.Probe spec, Container container, long startedNanos) {
    this.kind = kind;
    this.spec = spec;
    this.container = container;
    this.period = or(spec.getPeriodSeconds(), 10);
    this.timeout = or(spec.getTimeoutSeconds(), 1);
    this.successThreshold = or(spec.getSuccessThreshold(), 1);
    this.failureThreshold = or(spec.getFailureThreshold(), 3);
    this.nextAt = startedNanos + or(spec.getInitialDelaySeconds(), 0) * 1_000_000_000L;
  }

  private static int or(Integer v, int dflt) {
    return v == null ? dflt : v;
  }

  boolean passing() {
    return passing;
  }

  int failures() {
    return failures;
  }

  int failureThreshold() {
    return failureThreshold;
  }

  String lastResult() {
    return lastResult;
  }

  /** Runs the probe if it is due; returns whether it ran. */
  boolean runIfDue(String podIp, NodeDialer dialer) {
    long now = System.nanoTime();
    if (now < nextAt) {
      return false;
    }
    nextAt = now + period * 1_000_000_000L;
    String failure = attempt(podIp, dialer);
    if (failure == null) {
      failures = 0;
      successes++;
      lastResult = "success";
      if (successes >= successThreshold) {
        passing = true;
      }
    } else {
      successes = 0;
      failures++;
      lastResult = failure;
      if (failures >= failureThreshold) {
        passing = false;
      }
    }
    return true;
  }

  /** Null on success, else what failed. */
  private String attempt(String podIp, NodeDialer dialer) {
    try {
      if (spec.getHttpGet() != null) {
        var get = spec.getHttpGet();
        String host = get.getHost() == null || get.getHost().isEmpty() ? podIp : get.getHost();
        int port = port(get.getPort());
        String path = get.getPath() == null ? "/" : get.getPath();
        try (Socket s = dialer.connect(new InetSocketAddress(host, port), timeout * 1000)) {
          s.setSoTimeout(timeout * 1000);
          s.getOutputStream().write(("GET " + path + " HTTP/1.1\r\nHost: " + host + ":" + port
              + "\r\nUser-Agent: kube-probe/1.32\r\nAccept: */*\r\nConnection: close\r\n\r\n")
              .getBytes(StandardCharsets.US_ASCII));
          InputStream in = s.getInputStream();
          byte[] head = in.readNBytes(12);
          String status = new String(head, StandardCharsets.US_ASCII);
          if (status.length() < 12 || !status.startsWith("HTTP/1.")) {
            return "httpGet http://" + host + ":" + port + path + ": no HTTP response";
          }
          int code = Integer.parseInt(status.substring(9, 12));
          return code >= 200 && code < 400 ? null
              : "httpGet http://" + host + ":" + port + path + ": HTTP " + code;
        }
      }
      if (spec.getTcpSocket() != null) {
        var tcp = spec.getTcpSocket();
        String host = tcp.getHost() == null || tcp.getHost().isEmpty() ? podIp : tcp.getHost();
        int port = port(tcp.getPort());
        try (Socket s = dialer.connect(new InetSocketAddress(host, port), timeout * 1000)) {
          return null;
        }
      }
      return "probe kind not run by the harness (exec/grpc): " + spec;
    } catch (IOException | RuntimeException e) {
      return e.getClass().getSimpleName() + ": " + e.getMessage();
    }
  }

  private int port(IntOrString p) {
    if (p.getIntVal() != null) {
      return p.getIntVal();
    }
    for (ContainerPort cp : container.getPorts()) {
      if (p.getStrVal().equals(cp.getName())) {
        return cp.getContainerPort();
      }
    }
    throw new IllegalArgumentException("container " + container.getName() + " has no port named " + p.getStrVal());
  }
}
