package dev.ambientj.cni.plugin;

import dev.ambientj.cni.agent.AgentProtocol;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.AsynchronousCloseException;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Sends one request line to the node agent and reads its one-line answer.
 *
 * <p>Blocking I/O on the main thread; a daemon watchdog closes the channel when the deadline
 * passes (cheaper to start than a Selector or a virtual-thread scheduler in a per-pod process).
 */
final class AgentClient {
  /** The agent's socket does not exist or refuses connections. */
  static final class AgentUnavailable extends IOException {
    private static final long serialVersionUID = 1L;

    AgentUnavailable(String message, Throwable cause) {
      super(message, cause);
    }
  }

  private final Path socket;
  private final long timeoutMillis;

  AgentClient(Path socket, long timeoutMillis) {
    this.socket = socket;
    this.timeoutMillis = timeoutMillis;
  }

  /** Returns the answer line without its newline. */
  String call(String requestLine) throws IOException {
    if (!Files.exists(socket)) {
      throw new AgentUnavailable("node agent socket " + socket + " does not exist", null);
    }
    SocketChannel ch;
    try {
      ch = SocketChannel.open(StandardProtocolFamily.UNIX);
    } catch (IOException e) {
      throw new IOException("cannot open a Unix socket: " + e.getMessage(), e);
    }
    Watchdog watchdog = new Watchdog(ch, timeoutMillis);
    try (ch) {
      try {
        ch.connect(UnixDomainSocketAddress.of(socket));
      } catch (IOException e) {
        throw new AgentUnavailable(
            "node agent socket " + socket + " refused the connection (" + e.getMessage() + ")", e);
      }
      watchdog.start();
      ByteBuffer out =
          ByteBuffer.wrap((requestLine + "\n").getBytes(StandardCharsets.UTF_8));
      while (out.hasRemaining()) {
        ch.write(out);
      }
      ByteBuffer in = ByteBuffer.allocate(AgentProtocol.MAX_LINE);
      while (true) {
        int n = ch.read(in);
        for (int i = 0; i < in.position(); i++) {
          if (in.get(i) == '\n') {
            return new String(in.array(), 0, i, StandardCharsets.UTF_8);
          }
        }
        if (n < 0) {
          throw new IOException("node agent closed the connection without an answer");
        }
        if (!in.hasRemaining()) {
          throw new IOException("node agent answer longer than " + AgentProtocol.MAX_LINE + " bytes");
        }
      }
    } catch (AsynchronousCloseException e) {
      throw new IOException("node agent did not answer within " + timeoutMillis + " ms", e);
    } finally {
      watchdog.interrupt();
    }
  }

  private static final class Watchdog extends Thread {
    private final SocketChannel ch;
    private final long millis;

    Watchdog(SocketChannel ch, long millis) {
      super("agent-deadline");
      setDaemon(true);
      this.ch = ch;
      this.millis = millis;
    }

    @Override
    public void run() {
      try {
        Thread.sleep(millis);
        ch.close();
      } catch (InterruptedException | IOException e) {
        // finished in time, or already closed
      }
    }
  }
}
