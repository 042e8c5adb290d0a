package dev.ambientj.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import org.junit.jupiter.api.Test;

class LeakFailingExtensionTest {

  @Test
  void reportsAnUnreleasedBufferAndClearsAfterwards() throws Exception {
    new LeakFailingExtension().beforeAll(null);
    leakOne();
    assertThatThrownBy(() -> LeakFailingExtension.verifyNoLeaks("leaky"))
        .isInstanceOf(AssertionError.class)
        .hasMessageContaining("Netty leak");
    assertThat(LeakFailingExtension.reportedLeaks()).isEmpty();
  }

  private static void leakOne() {
    ByteBuf leaked = PooledByteBufAllocator.DEFAULT.directBuffer(16);
    leaked.writeInt(42);
    // deliberately not released
  }
}
