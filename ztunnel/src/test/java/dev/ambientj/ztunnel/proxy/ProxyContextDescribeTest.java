package dev.ambientj.ztunnel.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.channels.NotYetConnectedException;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** What the access log's {@code error} says for the failures a relay meets. */
class ProxyContextDescribeTest {

  @Test
  void aResetSocketIsNamedAsSuchNotByTheExceptionClass() {
    // Netty reports ENOTCONN (shutdown or read on a socket the peer reset) this way, no message
    assertThat(ProxyContext.describe(new CompletionException(new NotYetConnectedException())))
        .isEqualTo("socket no longer connected (reset by peer)");
  }

  @Test
  void otherFailuresKeepTheirMessageOrClassName() {
    assertThat(ProxyContext.describe(new CompletionException(new java.io.IOException("Broken pipe"))))
        .isEqualTo("Broken pipe");
    assertThat(ProxyContext.describe(new IllegalStateException())).isEqualTo("IllegalStateException");
    assertThat(ProxyContext.describe(null)).isNull();
  }
}
