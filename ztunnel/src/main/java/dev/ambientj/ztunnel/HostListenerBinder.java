package dev.ambientj.ztunnel;

import dev.ambientj.config.model.Workload;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/** {@link ListenerBinder#hostMode()}: binds the pod IP itself (a loopback address in host mode). */
final class HostListenerBinder implements ListenerBinder {
  static final HostListenerBinder INSTANCE = new HostListenerBinder();

  private HostListenerBinder() {}

  @Override
  public ChannelFuture bind(ServerBootstrap bootstrap, Workload workload, InetAddress address,
      int port) {
    return bootstrap.bind(address, port);
  }

  @Override
  public InetSocketAddress originalDestination(Channel accepted) {
    InetSocketAddress original = OriginalDestination.lookup(accepted);
    return original != null ? original : (InetSocketAddress) accepted.localAddress();
  }

  @Override
  public String toString() {
    return "host mode";
  }
}
