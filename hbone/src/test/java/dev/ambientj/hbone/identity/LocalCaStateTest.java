package dev.ambientj.hbone.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link LocalCertificateAuthority#loadOrCreate}: the state-directory convention shared by ./mesh processes. */
@Timeout(60)
class LocalCaStateTest {

  @TempDir
  Path state;

  @Test
  void createsOnceThenLoadsTheSameRoot() throws Exception {
    LocalCertificateAuthority first = LocalCertificateAuthority.loadOrCreate(state, "cluster.local");
    LocalCertificateAuthority again = LocalCertificateAuthority.loadOrCreate(state, "cluster.local");

    assertThat(again.root()).isEqualTo(first.root());
    Path cert = state.resolve("ca/root-cert.pem");
    Path key = state.resolve("ca/root-key.pem");
    assertThat(Files.readString(cert, StandardCharsets.US_ASCII)).isEqualTo(first.rootPem());
    assertThat(Files.readString(key, StandardCharsets.US_ASCII)).isEqualTo(first.rootPrivateKeyPem());
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(key))).isEqualTo("rw-------");
    assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(cert))).isEqualTo("rw-r--r--");
    try (var files = Files.list(state.resolve("ca"))) {
      assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder(
          "root-cert.pem", "root-key.pem", ".lock"); // no temporary files left behind
    }
    // the loaded root can sign, and what it signs chains to the first one
    WorkloadCertificate leaf = again.issue(new SpiffeId("cluster.local", "default", "sleep"), Duration.ofHours(1));
    leaf.leaf().verify(first.root().getPublicKey());
  }

  @Test
  void loadsARootWrittenInTheSameLayoutByAnotherComponent() throws Exception {
    LocalCertificateAuthority other = LocalCertificateAuthority.create("cluster.local");
    Files.createDirectories(state.resolve("ca"));
    Files.writeString(state.resolve("ca/root-key.pem"), other.rootPrivateKeyPem());
    Files.writeString(state.resolve("ca/root-cert.pem"), other.rootPem());

    assertThat(LocalCertificateAuthority.loadOrCreate(state, "cluster.local").root()).isEqualTo(other.root());
  }

  @Test
  void aLoneCertificateIsReportedNotReplaced() throws Exception {
    Files.createDirectories(state.resolve("ca"));
    String pem = LocalCertificateAuthority.create("cluster.local").rootPem();
    Files.writeString(state.resolve("ca/root-cert.pem"), pem);

    assertThatThrownBy(() -> LocalCertificateAuthority.loadOrCreate(state, "cluster.local"))
        .isInstanceOf(IOException.class)
        .hasMessageContaining("incomplete local CA")
        .hasMessageContaining("root-key.pem is missing");
    assertThat(Files.readString(state.resolve("ca/root-cert.pem"))).isEqualTo(pem);
  }

  @Test
  void processesAndThreadsStartingAtOnceAgreeOnOneRoot() throws Exception {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<Process> processes = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      processes.add(new ProcessBuilder(java.toString(), "-cp", System.getProperty("java.class.path"),
          LocalCaStateTest.class.getName() + "$Starter", state.toString())
          .redirectErrorStream(false).redirectError(ProcessBuilder.Redirect.DISCARD).start());
    }
    ExecutorService threads = Executors.newFixedThreadPool(4);
    CountDownLatch go = new CountDownLatch(1);
    List<Future<String>> inJvm = new ArrayList<>();
    try {
      for (int i = 0; i < 4; i++) {
        Callable<String> c = () -> {
          go.await();
          return LocalCertificateAuthority.loadOrCreate(state, "cluster.local").rootPem();
        };
        inJvm.add(threads.submit(c));
      }
      go.countDown();
      Set<String> roots = new HashSet<>();
      for (Future<String> f : inJvm) {
        roots.add(f.get(30, TimeUnit.SECONDS));
      }
      for (Process p : processes) {
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isZero();
        roots.add(new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII));
      }
      assertThat(roots).containsExactly(Files.readString(state.resolve("ca/root-cert.pem"), StandardCharsets.US_ASCII));
    } finally {
      threads.shutdownNow();
      processes.forEach(Process::destroy);
    }
  }

  /** Another {@code ./mesh} process: loads or creates the root and prints it. */
  static final class Starter {
    public static void main(String[] args) throws Exception {
      System.out.print(LocalCertificateAuthority.loadOrCreate(Path.of(args[0]), "cluster.local").rootPem());
    }
  }
}
