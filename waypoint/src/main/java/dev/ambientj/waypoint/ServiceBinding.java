package dev.ambientj.waypoint;

import dev.ambientj.config.model.Service;
import dev.ambientj.config.authz.WorkloadAuthorizer;
import dev.ambientj.config.model.ServicePort;
import dev.ambientj.waypoint.filter.ratelimit.TokenBucket;
import dev.ambientj.waypoint.route.RouteTable;
import java.util.List;

/**
 * One service port this waypoint serves, compiled: its routes, authorization (the policies
 * attached to the service, from shared-config's one engine) and rate limits.
 * Immutable, part of one {@link WaypointConfig}.
 */
record ServiceBinding(
    Service service,
    ServicePort port,
    PortProtocol protocol,
    RouteTable routes,
    WorkloadAuthorizer authorizer,
    List<TokenBucket> rateLimits) {}
