package dev.ambientj.cni.redirect;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A helper process run inside a test netns ({@code ip netns exec}).
 *
 * <ul>
 *   <li>{@code listen PORT...}: listens on 0.0.0.0 on each port, answers every connection with
 *       "port &lt;its port&gt;\n"; prints "ready" when all are bound; runs until killed.
 *   <li>{@code connect HOST PORT}: connects (3 s timeout), prints the first line read, exits 0;
 *       prints "error: …" and exits 1 on failure.
 * </ul>
 */
public final class NetnsProbe {
  private NetnsProbe() {}

  public static void main(String[] args) throws Exception {
    if (args[0].equals("listen")) {
      for (int i = 1; i < args.length; i++) {
        ServerSocket ss = new ServerSocket();
        ss.setReuseAddress(true);
        int port = Integer.parseInt(args[i]);
        ss.bind(new InetSocketAddress("0.0.0.0", port));
        Thread t =
            new Thread(
                () -> {
                  while (true) {
                    try (Socket s = ss.accept();
                        OutputStream out = s.getOutputStream()) {
                      out.write(("port " + port + "\n").getBytes(StandardCharsets.UTF_8));
                    } catch (IOException e) {
                      return;
                    }
                  }
                });
        t.start();
      }
      System.out.println("ready");
      System.out.flush();
      Thread.currentThread().join();
    } else {
      try (Socket s = new Socket()) {
        s.connect(new InetSocketAddress(args[1], Integer.parseInt(args[2])), 3000);
        s.setSoTimeout(3000);
        InputStream in = s.getInputStream();
        StringBuilder sb = new StringBuilder();
        int c;
        while ((c = in.read()) >= 0 && c != '\n') {
          sb.append((char) c);
        }
        System.out.println(sb);
      } catch (IOException e) {
        System.out.println("error: " + e);
        System.exit(1);
      }
    }
  }
}
