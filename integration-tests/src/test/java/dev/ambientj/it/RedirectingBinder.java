package dev.ambientj.it;

import dev.ambientj.config.model.Workload;
import dev.ambientj.ztunnel.ListenerBinder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Map;

/**
 * Host-mode binding that plays the kernel's REDIRECT for the capture listeners: a connection
 * accepted on a listed listener address reports the mapped original destination.
 */
record RedirectingBinder(Map<InetSocketAddress, InetSocketAddress> originalByListener)
    implements ListenerBinder {
  @Override
  public ChannelFuture bind(ServerBootstrap bootstrap, Workload workload, InetAddress address,
      int port) {
    return ListenerBinder.hostMode().bind(bootstrap, workload, address, port);
  }

  @Override
  public InetSocketAddress originalDestination(Channel accepted) {
    InetSocketAddress local = (InetSocketAddress) accepted.localAddress();
    return originalByListener.getOrDefault(local, local);
  }
}
