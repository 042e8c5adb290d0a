package dev.ambientj.waypoint;

import dev.ambientj.hbone.ConnectTarget;
import dev.ambientj.hbone.HboneClient;
import dev.ambientj.hbone.identity.SpiffeId;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http.HttpObject;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A client pod as its ztunnel would look to the waypoint: HBONE to the waypoint with the client's
 * identity and {@code :authority VIP:port}, then HTTP/1.1 or HTTP/2 inside the tunnel.
 */
final class TestClient {
  private final HboneClient hbone;
  private final SpiffeId source;
  private final SpiffeId waypoint;
  private final InetSocketAddress waypointAddress;

  TestClient(HboneClient hbone, SpiffeId source, SpiffeId waypoint, InetSocketAddress waypointAddress) {
    this.hbone = hbone;
    this.source = source;
    this.waypoint = waypoint;
    this.waypointAddress = waypointAddress;
  }

  Channel tunnel(String authority) throws Exception {
    return hbone.connect(new ConnectTarget(source, Set.of(waypoint), waypointAddress, authority, Map.of()))
        .get(10, TimeUnit.SECONDS);
  }

  /** An HTTP/1.1 connection through the waypoint; requests on it reuse the tunnel (keep-alive). */
  Http1 http1(String authority) throws Exception {
    return new Http1(tunnel(authority));
  }

  Http2 http2(String authority) throws Exception {
    return new Http2(tunnel(authority));
  }

  static final class Http1 implements AutoCloseable {
    final Channel ch;
    final BlockingQueue<Object> responses = new LinkedBlockingQueue<>();

    Http1(Channel ch) {
      this.ch = ch;
      ch.pipeline().addLast(new HttpClientCodec(), new HttpObjectAggregator(1 << 20), new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          responses.add(msg);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
          responses.add("closed");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
          ctx.close();
        }
      });
      ch.config().setAutoRead(true);
    }

    /** Sends and waits for the response; the caller releases it. */
    FullHttpResponse send(FullHttpRequest req) throws Exception {
      ch.writeAndFlush(req);
      Object o = responses.poll(15, TimeUnit.SECONDS);
      if (o instanceof FullHttpResponse r) {
        return r;
      }
      throw new AssertionError("no response: " + o);
    }

    boolean closedWithin(long millis) throws InterruptedException {
      Object o = responses.poll(millis, TimeUnit.MILLISECONDS);
      ReferenceCountUtil.release(o);
      return "closed".equals(o) || !ch.isActive();
    }

    @Override
    public void close() {
      ch.close();
      Object o;
      while ((o = responses.poll()) != null) {
        ReferenceCountUtil.release(o);
      }
    }
  }

  static final class Http2 implements AutoCloseable {
    final Channel ch;
    final List<Object> connectionEvents = new CopyOnWriteArrayList<>();

    Http2(Channel ch) {
      this.ch = ch;
      ch.pipeline().addLast(Http2FrameCodecBuilder.forClient().build());
      // streams the server would open: none expected
      ch.pipeline().addLast(new Http2MultiplexHandler(new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          ReferenceCountUtil.release(msg);
        }
      }));
      // connection frames (GOAWAY, SETTINGS …) go on through the parent pipeline
      ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
          if (msg instanceof Http2GoAwayFrame g) {
            connectionEvents.add("GOAWAY " + g.errorCode());
          }
          ctx.fireChannelRead(msg); // to a test's own handler, or the pipeline's tail (released there)
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
          ctx.close();
        }
      });
      ch.config().setAutoRead(true);
    }

    /** One request on a new stream; the aggregated response (caller releases). */
    FullHttpResponse send(FullHttpRequest req) throws Exception {
      BlockingQueue<Object> q = new LinkedBlockingQueue<>();
      Http2StreamChannel sc = open(q, true);
      sc.writeAndFlush(req);
      Object o = q.poll(15, TimeUnit.SECONDS);
      sc.close();
      if (o instanceof FullHttpResponse r) {
        return r;
      }
      throw new AssertionError("no response: " + o);
    }

    /** One request, every response object as received (streaming), until the stream ends. */
    List<HttpObject> stream(FullHttpRequest req) throws Exception {
      BlockingQueue<Object> q = new LinkedBlockingQueue<>();
      Http2StreamChannel sc = open(q, false);
      sc.writeAndFlush(req);
      List<HttpObject> out = new java.util.ArrayList<>();
      while (true) {
        Object o = q.poll(15, TimeUnit.SECONDS);
        if (o == null || o.equals("closed")) {
          break;
        }
        out.add((HttpObject) o);
        if (o instanceof io.netty.handler.codec.http.LastHttpContent) {
          break;
        }
      }
      sc.close();
      return out;
    }

    private Http2StreamChannel open(BlockingQueue<Object> q, boolean aggregate) throws Exception {
      return new Http2StreamChannelBootstrap(ch).handler(new ChannelInitializer<Http2StreamChannel>() {
        @Override
        protected void initChannel(Http2StreamChannel c) {
          c.pipeline().addLast(new Http2StreamFrameToHttpObjectCodec(false));
          if (aggregate) {
            c.pipeline().addLast(new HttpObjectAggregator(1 << 20));
          }
          c.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void channelRead(ChannelHandlerContext ctx, Object msg) {
              q.add(msg);
            }

            @Override
            public void channelInactive(ChannelHandlerContext ctx) {
              q.add("closed");
            }

            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
              ctx.close();
            }
          });
        }
      }).open().get(10, TimeUnit.SECONDS);
    }

    @Override
    public void close() {
      ch.close();
    }
  }

  static String body(FullHttpResponse r) {
    return r.content().toString(StandardCharsets.UTF_8);
  }

  static String text(ByteBuf b) {
    return b.toString(StandardCharsets.UTF_8);
  }
}
