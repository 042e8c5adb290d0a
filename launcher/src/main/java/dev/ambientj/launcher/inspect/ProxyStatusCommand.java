package dev.ambientj.launcher.inspect;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import dev.ambientj.config.cli.MeshCommandLine;
import dev.ambientj.config.cli.MeshVersion;
import dev.ambientj.config.xds.ProxySyncStatus;
import dev.ambientj.config.xds.TypeUrls;
import io.envoyproxy.envoy.config.core.v3.Node;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.envoyproxy.envoy.service.discovery.v3.Resource;
import io.grpc.ManagedChannel;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

/**
 * {@code mesh proxy-status}: every proxy connected to the config server, and whether it holds the
 * current configuration — asked over xDS ({@value TypeUrls#DEBUG_SYNCZ}), as {@code istioctl
 * proxy-status} asks istiod.
 */
@Command(name = "proxy-status", mixinStandardHelpOptions = true,
    versionProvider = MeshVersion.class,
    description = "List the proxies connected to the config server: NAME, KIND, NODE, STATUS"
        + " (SYNCED, STALE or NACK), VERSION, and why a NACK was sent.")
public final class ProxyStatusCommand implements java.util.concurrent.Callable<Integer> {
  @Spec CommandLine.Model.CommandSpec spec;

  @Option(names = "--xds", defaultValue = "127.0.0.1:15010", paramLabel = "HOST:PORT",
      description = "the config server's plaintext xDS address (default: ${DEFAULT-VALUE})")
  String xds;

  @Option(names = "--timeout", defaultValue = "10s", paramLabel = "DURATION",
      converter = MeshCommandLine.PositiveDuration.class,
      description = "how long to wait for the answer, e.g. 10s, 1m (default: ${DEFAULT-VALUE})")
  Duration timeout;

  /** Runs {@code mesh proxy-status ARGS}; returns the exit code. */
  public static int run(String[] args) {
    return commandLine().execute(args);
  }

  /** As {@link #run(String[])}, printing to {@code out} and {@code err}. */
  public static int run(String[] args, PrintWriter out, PrintWriter err) {
    return commandLine().setOut(out).setErr(err).execute(args);
  }

  /** The command line of {@code mesh proxy-status}. */
  public static CommandLine commandLine() {
    return MeshCommandLine.create(new ProxyStatusCommand(), "proxy-status");
  }

  @Override
  public Integer call() throws Exception {
    List<ProxySyncStatus> proxies = fetch();
    PrintWriter out = spec.commandLine().getOut();
    if (proxies.isEmpty()) {
      spec.commandLine().getErr().println("No proxies are connected to " + xds + ".");
      return 0;
    }
    boolean nack = proxies.stream().anyMatch(p -> !p.nackMessage().isEmpty());
    Table t = nack
        ? new Table("NAME", "KIND", "NODE", "STATUS", "VERSION", "NACK REASON")
        : new Table("NAME", "KIND", "NODE", "STATUS", "VERSION");
    for (ProxySyncStatus p : proxies) {
      String node = p.node().isEmpty() ? "-" : p.node();
      String version = p.version().isEmpty() ? "-" : p.version();
      String[] id = p.id().split("~", -1);
      String name = id.length > 2 && !id[2].isEmpty() ? id[2] : p.id(); // pod.namespace, as istioctl
      if (nack) {
        t.row(name, p.kind(), node, p.status(), version, p.nackMessage().replace('\n', ' '));
      } else {
        t.row(name, p.kind(), node, p.status(), version);
      }
    }
    out.print(t);
    out.flush();
    return 0;
  }

  private List<ProxySyncStatus> fetch() throws IOException, InterruptedException {
    int colon = xds.lastIndexOf(':');
    if (colon < 0) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--xds: '" + xds + "' is not HOST:PORT");
    }
    int port;
    try {
      port = Integer.parseInt(xds.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--xds: '" + xds + "' is not HOST:PORT");
    }
    ManagedChannel channel = NettyChannelBuilder.forAddress(xds.substring(0, colon), port)
        .usePlaintext().build();
    CompletableFuture<DeltaDiscoveryResponse> answer = new CompletableFuture<>();
    try {
      StreamObserver<DeltaDiscoveryRequest> requests = AggregatedDiscoveryServiceGrpc.newStub(channel)
          .deltaAggregatedResources(new StreamObserver<>() {
            @Override
            public void onNext(DeltaDiscoveryResponse r) {
              answer.complete(r);
            }

            @Override
            public void onError(Throwable t) {
              answer.completeExceptionally(t);
            }

            @Override
            public void onCompleted() {
              answer.completeExceptionally(new IOException("the server ended the stream"));
            }
          });
      requests.onNext(DeltaDiscoveryRequest.newBuilder()
          .setNode(Node.newBuilder().setId("proxy-status~0.0.0.0~mesh.default~cluster.local"))
          .setTypeUrl(TypeUrls.DEBUG_SYNCZ).build());
      DeltaDiscoveryResponse r = answer.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      requests.onCompleted();
      List<ProxySyncStatus> all = new ArrayList<>();
      for (Resource res : r.getResourcesList()) {
        all.add(ProxySyncStatus.fromStruct(res.getResource().unpack(Struct.class)));
      }
      return all;
    } catch (ExecutionException e) {
      throw new IOException("cannot ask the config server at " + xds + ": " + e.getCause().getMessage()
          + " (is `mesh config-server` running there? give its plaintext xDS address with --xds)", e);
    } catch (TimeoutException e) {
      throw new IOException("no answer from the config server at " + xds + " within "
          + timeout.toMillis() / 1000.0 + " s (an older server that does not know " + TypeUrls.DEBUG_SYNCZ + "?)");
    } catch (InvalidProtocolBufferException e) {
      throw new IOException("the config server's answer is not a proxy status: " + e.getMessage(), e);
    } finally {
      channel.shutdownNow();
    }
  }
}
