package dev.ambientj.waypoint.route;

import java.util.Locale;

/** gRPC status names and codes (grpc/doc/statuscodes.md). */
public final class GrpcStatus {
  private static final String[] NAMES = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"
  };

  private GrpcStatus() {}

  /** The numeric code as text for a name ({@code UNAVAILABLE} → {@code 14}) or a number. */
  public static String toCode(String nameOrNumber) {
    String s = nameOrNumber.trim();
    if (!s.isEmpty() && s.chars().allMatch(Character::isDigit)) {
      return s;
    }
    String u = s.toUpperCase(Locale.ROOT);
    for (int i = 0; i < NAMES.length; i++) {
      if (NAMES[i].equals(u)) {
        return Integer.toString(i);
      }
    }
    throw new IllegalArgumentException("unknown gRPC status " + nameOrNumber);
  }
}
