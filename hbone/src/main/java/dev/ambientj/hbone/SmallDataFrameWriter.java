package dev.ambientj.hbone;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameStream;
import io.netty.handler.codec.http2.Http2FrameTypes;
import io.netty.handler.codec.http2.Http2RemoteFlowController;
import io.netty.handler.codec.http2.Http2Stream;

/**
 * Writes a relayed tunnel's small DATA frames as one buffer each — frame header and payload —
 * under the connection's HTTP/2 flow control, instead of through Netty's default encoder.
 *
 * <p>Why: per DATA frame, Netty's encoder queues the payload in a {@code CoalescingBufferQueue}
 * (with its deque and a promise notifier), makes a promise to take it out, and its frame writer
 * makes a promise aggregator, two more promises, an {@code Http2Flags}, a header buffer and two
 * slices; TLS then sees two writes, each with a promise notifier. JFR of the JMH round trip
 * ({@code HboneLatencyBenchmark}, docs/bench-example.md): about a third of what the tunnel
 * allocated. Here a frame of at most {@link #MAX_COPIED} bytes is one small holder in the flow
 * controller's queue and, once the window allows, one buffer (header + a copy of the payload;
 * TLS would have copied a payload that small into its own cumulation anyway) written with the
 * caller's promise.
 *
 * <p>Everything else goes on to the codec untouched: END_STREAM, padding, empty and larger
 * frames, and frames of streams not open for sending (the codec fails those as before). What
 * flow control means is unchanged: the frame waits in the same remote flow controller, whose
 * window accounting splits it when the window is short (each piece its own frame) and fails it if
 * the stream is reset first ({@link Http2FrameCodec#onError}, as the default encoder does).
 *
 * <p>Sits between the {@link Http2FrameCodec} and the stream multiplexer; runs on the
 * connection's event loop. Buffers: the payload of a frame taken here is owned here until it is
 * copied (then released) or the frame fails (then released); the written buffer is owned by the
 * channel, which releases it once written.
 */
final class SmallDataFrameWriter extends ChannelOutboundHandlerAdapter {

  static final String NAME = "hbone-small-data";

  /** Payloads up to this size are copied behind their header; larger ones take Netty's path. */
  static final int MAX_COPIED = 16 << 10;

  private static final int FRAME_HEADER = Http2CodecUtil.FRAME_HEADER_LENGTH;

  private final Http2FrameCodec codec;
  private final Http2Connection connection;
  private final Http2RemoteFlowController flowController;

  SmallDataFrameWriter(Http2FrameCodec codec) {
    this.codec = codec;
    this.connection = codec.connection();
    this.flowController = connection.remote().flowController();
  }

  @Override
  public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
    if (msg instanceof Http2DataFrame d && !d.isEndStream() && d.padding() == 0) {
      int n = d.content().readableBytes();
      Http2FrameStream fs = d.stream();
      if (n > 0 && n <= MAX_COPIED && fs != null) {
        Http2Stream stream = connection.stream(fs.id());
        if (stream != null && (stream.state() == Http2Stream.State.OPEN
            || stream.state() == Http2Stream.State.HALF_CLOSED_REMOTE)) {
          flowController.addFlowControlled(stream, new Queued(codec, stream.id(), d.content(), promise));
          return;
        }
      }
    }
    ctx.write(msg, promise);
  }

  /**
   * One frame's payload waiting for window; {@code payload} owned here. (A record of the same size
   * as an inner class: the codec stands where the outer reference would.)
   */
  private record Queued(Http2FrameCodec codec, int streamId, ByteBuf payload, ChannelPromise promise)
      implements Http2RemoteFlowController.FlowControlled {

    @Override
    public int size() {
      return payload.readableBytes();
    }

    @Override
    public void error(ChannelHandlerContext ctx, Throwable cause) {
      if (payload.refCnt() > 0) {
        payload.release();
      }
      promise.tryFailure(cause);
      codec.onError(ctx, true, cause); // as Netty's encoder: a stream error resets that stream
    }

    @Override
    public void writeComplete() {
      // not END_STREAM: nothing to close
    }

    @Override
    public void write(ChannelHandlerContext ctx, int allowedBytes) {
      int maxFrame = codec.encoder().configuration().frameSizePolicy().maxFrameSize();
      while (payload.isReadable() && allowedBytes > 0) {
        int n = Math.min(Math.min(payload.readableBytes(), allowedBytes), maxFrame);
        boolean last = n == payload.readableBytes();
        ByteBuf frame = ctx.alloc().directBuffer(FRAME_HEADER + n);
        frame.writeMedium(n).writeByte(Http2FrameTypes.DATA).writeByte(0).writeInt(streamId);
        frame.writeBytes(payload, n);
        allowedBytes -= n;
        if (last) {
          payload.release();
          ctx.write(frame, promise);
        } else {
          ctx.write(frame, ctx.voidPromise()); // a failure reaches the codec as exceptionCaught
        }
      }
    }

    @Override
    public boolean merge(ChannelHandlerContext ctx, Http2RemoteFlowController.FlowControlled next) {
      return false;
    }
  }
}
