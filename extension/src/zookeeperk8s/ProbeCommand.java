package zookeeperk8s;

import java.util.List;
import java.util.Map;
import org.apache.zookeeper.server.ZooKeeperServer;
import org.apache.zookeeper.server.admin.Command;
import org.apache.zookeeper.server.admin.CommandResponse;
import org.apache.zookeeper.server.admin.Commands;
import org.apache.zookeeper.server.admin.GetCommand;

/**
 * The admin command `charm_probe`: the answers of `srvr`, `voting_view` and `client_sessions`
 * in one response, each under its own name, exactly as those commands give them. The charm
 * asks this in every hook: one HTTP round trip to Jetty instead of three (each costs a hook a
 * few milliseconds of a budget measured in tens, bench/hooks.py).
 */
public final class ProbeCommand extends GetCommand {

    public static final String NAME = "charm_probe";

    /** The commands it answers for; a name ZooKeeper no longer knows is answered with null. */
    public static final List<String> PARTS = List.of("srvr", "voting_view", SessionsCommand.NAME);

    private ProbeCommand() {
        // Server required, as srvr is: a member not serving answers with that error alone.
        super(List.of(NAME));
    }

    /** Registered once per JVM: the plaintext and the TLS factory both call this. */
    public static synchronized void register() {
        if (Commands.getCommand(NAME) == null) {
            Commands.registerCommand(new ProbeCommand());
        }
    }

    @Override
    public CommandResponse runGet(ZooKeeperServer zkServer, Map<String, String> kwargs) {
        CommandResponse response = initializeResponse();
        for (String part : PARTS) {
            Command command = Commands.getCommand(part);
            response.put(part, command == null ? null : command.runGet(zkServer, kwargs).toMap());
        }
        return response;
    }
}
