package dev.ambientj.config.ca;

/**
 * A parsed Istio SPIFFE id, {@code spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>}.
 * The CA's own copy of the rule (hbone has one for the data path; shared-config does not depend on
 * hbone).
 */
record SpiffeUri(String trustDomain, String namespace, String serviceAccount) {
  static final String FORM = "spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>";
  private static final String PREFIX = "spiffe://";

  /**
   * @throws IllegalArgumentException naming the input and the expected form
   */
  static SpiffeUri parse(String uri) {
    if (uri == null || uri.isEmpty()) {
      throw new IllegalArgumentException("SPIFFE id is missing (expected " + FORM + ")");
    }
    if (!uri.startsWith(PREFIX)) {
      throw new IllegalArgumentException("'" + uri + "' is not a SPIFFE id (expected " + FORM + ")");
    }
    String[] parts = uri.substring(PREFIX.length()).split("/", -1);
    if (parts.length != 5 || !parts[1].equals("ns") || !parts[3].equals("sa")) {
      throw new IllegalArgumentException(
          "'" + uri + "' is not an Istio SPIFFE id (expected " + FORM + ")");
    }
    checkTrustDomain(parts[0], uri);
    checkSegment(parts[2], uri);
    checkSegment(parts[4], uri);
    return new SpiffeUri(parts[0], parts[2], parts[4]);
  }

  static void checkTrustDomain(String td, String input) {
    if (td.isEmpty()) {
      throw new IllegalArgumentException("'" + input + "': the trust domain is empty");
    }
    for (int i = 0; i < td.length(); i++) {
      char c = td.charAt(i);
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')) {
        throw new IllegalArgumentException(
            "'" + input + "': trust domain '" + td + "' may only hold a-z, 0-9, '.', '-' and '_'");
      }
    }
  }

  private static void checkSegment(String value, String input) {
    if (value.isEmpty()) {
      throw new IllegalArgumentException("'" + input + "': empty path segment (expected " + FORM + ")");
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c == '?' || c == '#' || c == '%' || Character.isWhitespace(c) || Character.isISOControl(c)) {
        throw new IllegalArgumentException(
            "'" + input + "': '" + value + "' holds a character not allowed in a SPIFFE path segment");
      }
    }
  }

  @Override
  public String toString() {
    return PREFIX + trustDomain + "/ns/" + namespace + "/sa/" + serviceAccount;
  }
}
