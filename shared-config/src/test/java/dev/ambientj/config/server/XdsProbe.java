package dev.ambientj.config.server;

import dev.ambientj.config.xds.ProxyNode;
import dev.ambientj.config.xds.TypeUrls;
import io.envoyproxy.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpc;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.envoyproxy.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.netty.handler.ssl.SslContext;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** How a config server answers the first request of a delta-ADS stream, for tests. */
final class XdsProbe {
  private XdsProbe() {}

  /**
   * Opens a delta-ADS stream to {@code target} over {@code tls} (null: plaintext; the server is
   * verified as {@code serverName}) with {@code authorization} (null: no header), subscribes to
   * Addresses as ztunnel {@code ztunnel-a} on node-a, and returns OK once a response arrives, or
   * the status the stream ended with.
   */
  static Status firstAnswer(String target, SslContext tls, String serverName,
      String authorization) throws Exception {
    NettyChannelBuilder b = NettyChannelBuilder.forTarget(target);
    if (tls == null) {
      b.usePlaintext();
    } else {
      b.sslContext(tls).overrideAuthority(serverName);
    }
    ManagedChannel channel = b.build();
    try {
      var stub = AggregatedDiscoveryServiceGrpc.newStub(channel);
      if (authorization != null) {
        Metadata h = new Metadata();
        h.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), authorization);
        stub = stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(h));
      }
      CompletableFuture<Status> ended = new CompletableFuture<>();
      StreamObserver<DeltaDiscoveryRequest> requests =
          stub.deltaAggregatedResources(new StreamObserver<>() {
            @Override
            public void onNext(DeltaDiscoveryResponse value) {
              ended.complete(Status.OK.withDescription("got a response: " + value.getTypeUrl()));
            }

            @Override
            public void onError(Throwable t) {
              ended.complete(Status.fromThrowable(t));
            }

            @Override
            public void onCompleted() {
              ended.complete(Status.OK.withDescription("completed"));
            }
          });
      requests.onNext(DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
          .setNode(ProxyNode.node("ztunnel", "127.0.100.1", "ztunnel-a", "istio-system", "node-a"))
          .build());
      return ended.get(20, TimeUnit.SECONDS);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
