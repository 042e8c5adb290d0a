package dev.ambientj.cni;

import dev.ambientj.cni.agent.AgentProtocol;
import dev.ambientj.cni.agent.NodeAgent;
import dev.ambientj.cni.agent.ZtunnelServer;
import dev.ambientj.cni.redirect.CommandRunner;
import dev.ambientj.cni.redirect.InpodRedirect;
import dev.ambientj.config.FileConfigSource;
import dev.ambientj.config.SnapshotListener;
import dev.ambientj.config.SnapshotPublisher;
import dev.ambientj.config.model.MeshSnapshot;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Entry point of {@code ./mesh cni-agent --config FILE... [--socket PATH]}: the node agent that the
 * CNI plugin asks to enroll pods (needs root: it enters pods' network namespaces).
 */
public final class CniAgentCommand {
  private static final String USAGE =
      "usage: mesh cni-agent --config FILE... [--socket PATH] [--zds-socket PATH | --no-zds]";

  private CniAgentCommand() {}

  /** Runs the subcommand; returns the process exit code. */
  public static int run(String[] args) {
    List<Path> configs = new ArrayList<>();
    Path socket = Path.of(AgentProtocol.DEFAULT_SOCKET);
    Path zdsSocket = Path.of(ZtunnelServer.DEFAULT_SOCKET);
    boolean zds = true;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if ((a.equals("--config") || a.equals("--socket") || a.equals("--zds-socket"))
          && i + 1 < args.length) {
        switch (a) {
          case "--config" -> configs.add(Path.of(args[++i]));
          case "--socket" -> socket = Path.of(args[++i]);
          default -> zdsSocket = Path.of(args[++i]);
        }
      } else if (a.equals("--no-zds")) {
        zds = false;
      } else {
        System.err.println("mesh cni-agent: unknown or incomplete argument '" + a + "'");
        System.err.println(USAGE);
        return 2;
      }
    }
    if (configs.isEmpty()) {
      System.err.println(USAGE);
      return 2;
    }
    SnapshotPublisher publisher = new SnapshotPublisher();
    try (FileConfigSource source = FileConfigSource.start(configs, publisher);
        NodeAgent agent =
            NodeAgent.start(socket, publisher::snapshot, new InpodRedirect(CommandRunner.nsenter()))) {
      AutoCloseable following = null;
      if (zds) {
        agent.zds(ZtunnelServer.start(zdsSocket));
        following = publisher.subscribe(new SnapshotListener() {
          @Override
          public void onSnapshot(MeshSnapshot snapshot) {
            agent.reconcile(snapshot);
          }

          @Override
          public void onTransientError(String message) {
            System.err.println("mesh cni-agent: config error, keeping the current one: " + message);
          }
        });
        System.err.println("mesh cni-agent: ZDS for ztunnel --inpod on " + zdsSocket);
      }
      CountDownLatch stop = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(stop::countDown));
      System.err.println("mesh cni-agent: listening on " + agent.socket());
      stop.await();
      return 0;
    } catch (IOException | RuntimeException e) {
      System.err.println("mesh cni-agent: " + e.getMessage());
      return 1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return 0;
    }
  }
}
