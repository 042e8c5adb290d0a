package dev.ambientj.it;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The policies file the fail-closed tests rewrite while the proxies run: a harmless
 * PeerAuthentication, then an AuthorizationPolicy that lets only api-gateway reach the payment
 * pods (ztunnel enforces it: selector-based), and the bad writes an operator or a tool can make
 * of it, each with a piece of the rejection it must cause.
 */
final class PaymentAccessEdits {
  static final String GATEWAY = "cluster.local/ns/production/sa/api-gateway";
  static final String ORDERS = "cluster.local/ns/production/sa/orders";

  private PaymentAccessEdits() {}

  /** The policies file, letting {@code principals} (YAML flow list items) in. */
  static String policies(String principals) {
    return """
        apiVersion: security.istio.io/v1
        kind: PeerAuthentication
        metadata:
          name: default
          namespace: production
        spec:
          mtls:
            mode: PERMISSIVE
        ---
        apiVersion: security.istio.io/v1
        kind: AuthorizationPolicy
        metadata:
          name: payment-access
          namespace: production
        spec:
          selector:
            matchLabels:
              app: payment-service
          rules:
          - from:
            - source:
                principals: [%s]
        """.formatted(principals);
  }

  static final String ONLY_GATEWAY = policies("\"" + GATEWAY + "\"");
  static final String GATEWAY_AND_ORDERS = policies("\"" + GATEWAY + "\", \"" + ORDERS + "\"");

  /** A bad write: the file's bytes and a piece of the rejection it must cause. */
  record BadWrite(byte[] bytes, String rejection) {
    static BadWrite of(String text, String rejection) {
      return new BadWrite(text.getBytes(StandardCharsets.UTF_8), rejection);
    }
  }

  /**
   * The bad writes, by name, in the order tried: each, applied as a new version of the file,
   * would have let orders in (or changed nothing) had it not been refused.
   */
  static Map<String, BadWrite> badWrites() {
    Map<String, BadWrite> m = new LinkedHashMap<>();
    m.put("syntax error in the policy", BadWrite.of(
        ONLY_GATEWAY.replace("  rules:\n", "  rules: [\n"), "malformed YAML"));
    m.put("empty file", BadWrite.of("", ": empty"));
    m.put("garbage (not UTF-8)", new BadWrite(
        new byte[] {(byte) 0xc3, 0x28, (byte) 0xff, 0x00, '{', '\n'}, "not UTF-8"));
    m.put("garbage (not a Kubernetes object)",
        BadWrite.of("%%%% rules: allow everyone\n:::\n", "document 1:"));
    m.put("invalid field (selector and targetRefs)", BadWrite.of(ONLY_GATEWAY.replace(
        "  selector:\n", "  targetRefs:\n  - {kind: Service, group: \"\", name: payment-service}\n"
            + "  selector:\n"), "spec.selector: set together with targetRefs"));
    m.put("typo fromm:", BadWrite.of(ONLY_GATEWAY.replace("- from:", "- fromm:"),
        "spec.rules[0].fromm: unknown field"));
    m.put("principals as a string", BadWrite.of(
        ONLY_GATEWAY.replace("principals: [\"" + GATEWAY + "\"]", "principals: \"" + ORDERS + "\""),
        "source.principals: \"" + ORDERS + "\" (expected a list)"));
    m.put("rules as a string", BadWrite.of(
        ONLY_GATEWAY.substring(0, ONLY_GATEWAY.indexOf("  rules:")) + "  rules: \"allow-all\"\n",
        "spec.rules: \"allow-all\" (expected a list)"));
    m.put("action: ALOW", BadWrite.of(
        ONLY_GATEWAY.replace("  selector:\n", "  action: ALOW\n  selector:\n"), "\"ALOW\""));
    return m;
  }

  /**
   * Writes 60 % of the valid file (cut inside a line, as a writer cut short leaves it), then the
   * whole of it a second later, then waits past the watcher's settle period: whatever the watcher
   * did with the prefix, it has done.
   */
  static void writeHalfThenTheRest(java.nio.file.Path policies) throws Exception {
    byte[] whole = ONLY_GATEWAY.getBytes(StandardCharsets.UTF_8);
    int cut = whole.length * 6 / 10;
    while (whole[cut - 1] == '\n') {
      cut--;
    }
    java.nio.file.Files.write(policies, java.util.Arrays.copyOf(whole, cut));
    Thread.sleep(1_000);
    java.nio.file.Files.write(policies, whole);
    Thread.sleep(4_000);
  }
}
