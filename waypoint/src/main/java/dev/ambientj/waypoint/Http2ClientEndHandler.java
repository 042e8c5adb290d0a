package dev.ambientj.waypoint;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2Stream;

/**
 * Ends a downstream HTTP/2 connection once its client has ended its side (a half-close of the
 * tunnel, as a client sends after GOAWAY) and the last open stream has answered: the codec says
 * GOAWAY, our side ends too, then the tunnel closes. Without this the client waits forever for the connection to end.
 * HTTP/1.1 connections get the same from {@link HttpProxyHandler}.
 */
final class Http2ClientEndHandler extends ChannelInboundHandlerAdapter {
  private final Http2Connection connection;
  private boolean clientEnded;
  private boolean finished;

  Http2ClientEndHandler(Http2Connection connection) {
    this.connection = connection;
  }

  @Override
  public void handlerAdded(ChannelHandlerContext ctx) {
    connection.addListener(new Http2ConnectionAdapter() {
      @Override
      public void onStreamClosed(Http2Stream stream) {
        // called on the channel's event loop, after the stream left the active set
        finishIfIdle(ctx);
      }
    });
  }

  @Override
  public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
    if (evt instanceof ChannelInputShutdownEvent) {
      clientEnded = true;
      finishIfIdle(ctx);
    }
    ctx.fireUserEventTriggered(evt);
  }

  private void finishIfIdle(ChannelHandlerContext ctx) {
    if (!clientEnded || finished || connection.numActiveStreams() > 0) {
      return;
    }
    finished = true;
    // through the codec (GOAWAY) and GracefulTunnelClose (END_STREAM, then the close)
    ctx.close();
  }
}
