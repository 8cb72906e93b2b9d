-- Routing reports in one statement: the interactions' state changes (in version order, each only if
-- newer than the row), the customers' last agent, the events and the routing decisions. One call is
-- one round trip and its own transaction, where BEGIN, an executemany per table and COMMIT were
-- five; on a floor that is not busy enough to batch, each report paid all five.

CREATE FUNCTION apply_routing_reports(
    c_id uuid[], c_version bigint[], c_state text[], c_set_agent boolean[], c_agent uuid[], c_queue text[],
    c_offered timestamptz[], c_connected timestamptz[], c_ended timestamptz[], c_completed timestamptz[],
    c_reason text[], c_code text[], c_notes text[],
    k_interaction uuid[], k_agent uuid[], k_at timestamptz[],
    e_org text[], e_at timestamptz[], e_kind text[], e_interaction uuid[], e_agent uuid[], e_queue text[],
    e_data text[],
    d_org text[], d_interaction uuid[], d_at timestamptz[], d_trigger text[], d_outcome text[], d_winner uuid[],
    d_rule text[], d_candidates text[]
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    i integer;
BEGIN
    -- the caller passes the changes sorted by version; a column a change does not set is NULL and kept
    FOR i IN 1 .. coalesce(array_length(c_id, 1), 0) LOOP
        UPDATE interactions SET state = c_state[i],
               agent_id = CASE WHEN c_set_agent[i] THEN c_agent[i] ELSE agent_id END,
               queue = COALESCE(c_queue[i], queue),
               offered_at = COALESCE(c_offered[i], offered_at),
               connected_at = COALESCE(c_connected[i], connected_at),
               ended_at = COALESCE(c_ended[i], ended_at),
               completed_at = COALESCE(c_completed[i], completed_at),
               end_reason = COALESCE(c_reason[i], end_reason),
               wrap_up_code = COALESCE(c_code[i], wrap_up_code),
               wrap_up_notes = COALESCE(c_notes[i], wrap_up_notes),
               live_version = c_version[i], updated_at = now()
         WHERE id = c_id[i] AND live_version < c_version[i];
    END LOOP;
    -- remembered for last-agent routing of the customer's next contact: the latest connect wins
    UPDATE customers c SET last_agent_id = k.agent, last_agent_at = k.at
      FROM (SELECT DISTINCT ON (i.customer_id) i.customer_id, k.agent, k.at
              FROM unnest(k_interaction, k_agent, k_at) AS k(interaction, agent, at)
              JOIN interactions i ON i.id = k.interaction
             ORDER BY i.customer_id, k.at DESC) AS k
     WHERE c.id = k.customer_id;
    INSERT INTO events (org_id, at, kind, interaction_id, agent_id, queue, data)
    SELECT org, at, kind, interaction, agent, queue, data::jsonb
      FROM unnest(e_org, e_at, e_kind, e_interaction, e_agent, e_queue, e_data)
           WITH ORDINALITY AS e(org, at, kind, interaction, agent, queue, data, n)
     ORDER BY n;
    INSERT INTO routing_decisions (org_id, interaction_id, at, trigger, outcome, winner, rule, candidates)
    SELECT org, interaction, at, trigger, outcome, winner, rule, candidates::jsonb
      FROM unnest(d_org, d_interaction, d_at, d_trigger, d_outcome, d_winner, d_rule, d_candidates)
           WITH ORDINALITY AS d(org, interaction, at, trigger, outcome, winner, rule, candidates, n)
     ORDER BY n;
END
$$;
