package dev.ambientj.waypoint.http;

import dev.ambientj.hbone.TunnelChannels;
import dev.ambientj.waypoint.Waypoint;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Decides, from the first bytes of a connection, whether the client speaks HTTP/2 with prior
 * knowledge (the 24-byte client preface {@code PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n}) or HTTP/1.x,
 * installs the matching codec after itself and removes itself; bytes already read are handed to
 * the new codec. Input that starts like the preface but is not it is answered with a GOAWAY
 * (PROTOCOL_ERROR) and the tunnel is closed, as an HTTP/2 server does for a corrupt preface.
 *
 * <p>Buffers: input is accumulated by {@link ByteToMessageDecoder} and passed on, never released here.
 */
public final class ProtocolSniffer extends ByteToMessageDecoder {
  /** Installs a codec chain at the end of the pipeline. */
  public interface Installer {
    void installHttp1(ChannelPipeline pipeline);

    void installHttp2(ChannelPipeline pipeline);
  }

  private static final byte[] PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
  private static final int PRI = 3;

  private final Installer installer;
  /** A bad preface was answered: what else arrives is discarded until the tunnel closes. */
  private boolean refused;

  public ProtocolSniffer(Installer installer) {
    this.installer = installer;
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    if (refused) {
      in.skipBytes(in.readableBytes());
      return;
    }
    int n = Math.min(in.readableBytes(), PREFACE.length);
    int from = in.readerIndex();
    for (int i = 0; i < n; i++) {
      if (in.getByte(from + i) != PREFACE[i]) {
        if (i < PRI) {
          installer.installHttp1(ctx.pipeline());
          ctx.pipeline().remove(this);
        } else {
          refused = true;
          badPreface(ctx, in);
        }
        return;
      }
    }
    if (n == PREFACE.length) {
      installer.installHttp2(ctx.pipeline());
      ctx.pipeline().remove(this);
    }
  }

  /** SETTINGS (empty) then GOAWAY(last stream 0, PROTOCOL_ERROR, debug text), then close. */
  private static void badPreface(ChannelHandlerContext ctx, ByteBuf in) {
    in.skipBytes(in.readableBytes());
    byte[] debug = "HTTP/2 client preface string missing or corrupt".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    ByteBuf out = ctx.alloc().buffer(9 + 9 + 8 + debug.length);
    out.writeMedium(0).writeByte(0x4).writeByte(0).writeInt(0);
    out.writeMedium(8 + debug.length).writeByte(0x7).writeByte(0).writeInt(0);
    out.writeInt(0).writeInt(0x1).writeBytes(debug);
    ctx.write(out);
    // GOAWAY, then our end and a delayed close: a reset at once could overtake the GOAWAY
    TunnelChannels.endThenClose(ctx.channel(), Waypoint.DELAYED_CLOSE_MILLIS);
  }
}
