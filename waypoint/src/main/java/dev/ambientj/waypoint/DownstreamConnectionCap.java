package dev.ambientj.waypoint;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The first initializer of every accepted HBONE connection: admits it (then installs
 * {@code next}, the HBONE server's initializer) while fewer than {@link DownstreamLimits#maxConnections}
 * are open, else closes it at once — before any TLS work — and counts it
 * ({@code envoy_listener_downstream_cx_overflow}). One warning per 10 s at most says how many were
 * refused, so a flood does not flood the log.
 */
@ChannelHandler.Sharable
final class DownstreamConnectionCap extends ChannelInitializer<Channel> {
  private static final Logger log = LoggerFactory.getLogger(DownstreamConnectionCap.class);
  private static final long WARN_EVERY_NANOS = TimeUnit.SECONDS.toNanos(10);

  private final DownstreamLimits limits;
  private final ChannelHandler next;
  private final AtomicLong refusedSinceWarning = new AtomicLong();
  private final AtomicLong lastWarning = new AtomicLong(System.nanoTime() - WARN_EVERY_NANOS);

  DownstreamConnectionCap(DownstreamLimits limits, ChannelHandler next) {
    this.limits = limits;
    this.next = next;
  }

  @Override
  protected void initChannel(Channel ch) {
    if (!limits.stats().tryOpen(limits.maxConnections())) {
      ch.close();
      long refused = refusedSinceWarning.incrementAndGet();
      long now = System.nanoTime();
      long last = lastWarning.get();
      if (now - last >= WARN_EVERY_NANOS && lastWarning.compareAndSet(last, now)) {
        refusedSinceWarning.addAndGet(-refused);
        log.warn("waypoint at its connection limit ({} open): closed {} new HBONE connection(s) from {} and others; "
            + "raise --max-connections (and the descriptor limit) if this is legitimate load",
            limits.maxConnections(), refused, ch.remoteAddress());
      }
      return;
    }
    ch.closeFuture().addListener(f -> limits.stats().closed());
    ch.pipeline().addLast(next);
  }
}
