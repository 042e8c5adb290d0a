package dev.ambientj.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.ambientj.hbone.identity.LocalCertificateAuthority;
import dev.ambientj.launcher.demo.Socks5Client;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code POST /quitquitquit} on a real {@code mesh ztunnel} and {@code mesh waypoint} process: the
 * same drain as SIGTERM, then the process exits 0 (as Envoy's and ztunnel's admin do). On the
 * ztunnel, the admin port's index and a run-time level change are checked on the way.
 */
class QuitquitquitProcessTest {
  private static final String P = "127.118";
  private static final Duration BOUND = Duration.ofSeconds(60);
  /** A 1 s drain deadline (grace period less 5 s), so that the exits are quick. */
  private static final Map<String, String> SHORT_GRACE = Map.of("TERMINATION_GRACE_PERIOD_SECONDS", "6");

  @TempDir Path dir;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private MeshProcess ztunnel;
  private WaypointProcess waypoint;

  @AfterEach
  void stop() throws Exception {
    if (ztunnel != null) {
      ztunnel.close();
    }
    if (waypoint != null) {
      waypoint.close();
    }
    http.close();
  }

  @Test
  void aZtunnelProcessDrainsAndExitsZeroOnQuitquitquit() throws Exception {
    Path mesh = dir.resolve("mesh.yaml");
    Files.writeString(mesh, TestMeshes.example(P));
    ztunnel = MeshProcess.start("ztunnel", dir.resolve("ztunnel.log"), SHORT_GRACE, "ztunnel",
        "--config", mesh.toString(), "--node", "node-a", "--state-dir", dir.resolve("zt").toString());
    assertThat(ztunnel.awaitLine(l -> l.contains("ztunnel for node node-a ready"), BOUND))
        .as("ready; log:\n%s", ztunnel.log()).isTrue();
    String admin = "http://" + P + ".100.1:15000";

    assertThat(send("GET", admin + "/").body()).contains("/config_dump", "/logging",
        "/quitquitquit");
    InetSocketAddress socks = new InetSocketAddress(P + ".1.10", 15080);
    askForAnUnknownHost(socks, "before.invalid");
    HttpResponse<String> level = send("POST", admin + "/logging?dev.ambientj.ztunnel=debug");
    assertThat(level.statusCode()).isEqualTo(200);
    assertThat(level.body()).contains("  dev.ambientj.ztunnel: debug\n");
    askForAnUnknownHost(socks, "after.invalid");
    assertThat(ztunnel.awaitLine(l -> l.contains("DEBUG") && l.contains("unknown host after.invalid"),
        BOUND)).as("a debug line after the change; log:\n%s", ztunnel.log()).isTrue();
    assertThat(ztunnel.log()).as("none before it").doesNotContain("before.invalid");
    assertThat(send("GET", admin + "/quitquitquit").statusCode()).isEqualTo(405);
    assertThat(ztunnel.alive()).isTrue();

    HttpResponse<String> quit = send("POST", admin + "/quitquitquit");

    assertThat(quit.statusCode()).isEqualTo(200);
    assertThat(quit.body()).isEqualTo("OK\n");
    assertThat(ztunnel.awaitExit(BOUND)).as("exit code; log:\n%s", ztunnel.log()).isZero();
    assertThat(ztunnel.log()).contains("/quitquitquit: shutting down")
        .contains("ztunnel for node node-a: drained");
  }

  @Test
  void aWaypointProcessDrainsAndExitsZeroOnQuitquitquit() throws Exception {
    Files.writeString(dir.resolve("mesh.yaml"), TestMeshes.example(P));
    LocalCertificateAuthority.loadOrCreate(dir, "cluster.local");
    waypoint = WaypointProcess.start(dir.resolve("mesh.yaml"), dir, "production",
        "payment-waypoint", P + ".1.30", List.of(), SHORT_GRACE);
    String admin = "http://" + P + ".1.30:15020";
    assertThat(eventuallyGet(admin + "/")).contains("/stats/prometheus", "/logging",
        "/quitquitquit");

    HttpResponse<String> quit = send("POST", admin + "/quitquitquit");

    assertThat(quit.statusCode()).isEqualTo(200);
    assertThat(quit.body()).isEqualTo("OK\n");
    assertThat(waypoint.awaitExit(BOUND)).as("exit code; log:\n%s", waypoint.output()).isZero();
    assertThat(waypoint.output()).contains("/quitquitquit: shutting down as on SIGTERM")
        .contains("mesh waypoint: drained; closing");
  }

  /** A SOCKS5 request for a host the mesh does not know (refused; logged at debug). */
  private static void askForAnUnknownHost(InetSocketAddress socks, String host) {
    try (java.net.Socket s = Socks5Client.connect(socks, host, 80, Duration.ofSeconds(5))) {
      throw new AssertionError("SOCKS5 to unknown " + host + " was accepted");
    } catch (java.io.IOException expected) {
      // refused
    }
  }

  /** The body of {@code uri} once it answers 200 (a port just bound may not answer yet). */
  private String eventuallyGet(String uri) throws Exception {
    long deadline = System.nanoTime() + BOUND.toNanos();
    while (true) {
      try {
        HttpResponse<String> r = send("GET", uri);
        if (r.statusCode() == 200) {
          return r.body();
        }
      } catch (java.io.IOException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
      }
      assertThat(System.nanoTime()).as("%s answers 200", uri).isLessThan(deadline);
      Thread.sleep(200);
    }
  }

  private HttpResponse<String> send(String method, String uri) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(uri)).timeout(Duration.ofSeconds(10))
        .method(method, HttpRequest.BodyPublishers.noBody()).build(),
        HttpResponse.BodyHandlers.ofString());
  }
}
