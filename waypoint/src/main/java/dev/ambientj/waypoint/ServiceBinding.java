package dev.ambientj.waypoint;

import dev.ambientj.config.model.Service;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.waypoint.filter.authz.L7Authorizer;
import dev.ambientj.waypoint.filter.ratelimit.TokenBucket;
import dev.ambientj.waypoint.route.RouteTable;
import java.util.List;

/**
 * One service port this waypoint serves, compiled: its routes, authorization and rate limits.
 * Immutable, part of one {@link WaypointConfig}.
 */
record ServiceBinding(
    Service service,
    ServicePort port,
    PortProtocol protocol,
    RouteTable routes,
    L7Authorizer authorizer,
    List<TokenBucket> rateLimits) {}
