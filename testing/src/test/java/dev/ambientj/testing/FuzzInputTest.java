package dev.ambientj.testing;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.util.concurrent.ImmediateEventExecutor;
import io.netty.util.concurrent.Promise;
import org.junit.jupiter.api.Test;

/** The per-input checks of a fuzz target catch what they promise to, and pass a clean input. */
class FuzzInputTest {

  @Test
  void aBufferStillReferencedAtTheEndOfAnInputIsAFinding() {
    TrackingAllocator alloc = new TrackingAllocator();
    FuzzInput.begin();
    ByteBuf kept = alloc.directBuffer(4).writeInt(0xCAFE);
    ByteBuf released = alloc.heapBuffer(8);
    released.release();
    assertThatThrownBy(() -> FuzzInput.end("leaky input", alloc))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("1 buffer(s) not released after leaky input")
        .hasMessageContaining("0000cafe");
    assertThatCode(() -> FuzzInput.end("next input", alloc)).as("forgotten after the report")
        .doesNotThrowAnyException();
    org.assertj.core.api.Assertions.assertThat(kept.refCnt()).isZero();
  }

  @Test
  void anExceptionNettyOnlyLogsIsAFinding() {
    FuzzInput.begin();
    Promise<Void> p = ImmediateEventExecutor.INSTANCE.newPromise();
    p.addListener(f -> {
      throw new IllegalStateException("listener blew up");
    });
    p.setSuccess(null); // Netty logs the listener's exception at WARN and goes on
    assertThatThrownBy(() -> FuzzInput.end("input", null))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("unhandled error")
        .hasMessageContaining("listener blew up");
  }

  @Test
  void aCleanInputPasses() {
    TrackingAllocator alloc = new TrackingAllocator();
    FuzzInput.begin();
    alloc.buffer(16).release();
    assertThatCode(() -> FuzzInput.end("clean input", alloc)).doesNotThrowAnyException();
  }
}
