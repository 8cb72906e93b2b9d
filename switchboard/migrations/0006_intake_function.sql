-- Intake in one round trip: resolve (or create) the customer by identity, insert the interaction
-- with its VIP-adjusted priority, its 'created' event and its first message. One statement is its
-- own transaction, so the interaction is durable when the call returns, at a quarter of the round
-- trips of BEGIN / SELECT / INSERT ... / COMMIT from the client.

-- Truthiness of a JSON value as Python's bool() sees it (customer attributes such as "vip").
CREATE FUNCTION jsonb_truthy(j jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'boolean' THEN j::text::boolean
        WHEN 'number' THEN j::text::numeric <> 0
        WHEN 'string' THEN j #>> '{}' <> ''
        WHEN 'array' THEN jsonb_array_length(j) > 0
        WHEN 'object' THEN j <> '{}'::jsonb
        ELSE false
    END
$$;

CREATE FUNCTION intake_interaction(
    p_id uuid, p_org text, p_channel text, p_queue text, p_priority integer, p_vip_priority integer,
    p_skills jsonb, p_subject text, p_identity_type text, p_identity_value text, p_name text,
    p_idempotency_key text, p_created_by text, p_at timestamptz, p_message text
) RETURNS TABLE (
    created boolean, priority smallint, customer_id uuid, customer_name text, vip boolean,
    last_agent_id uuid, last_agent_at timestamptz
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    c record;
    cid uuid;
    is_vip boolean;
    prio smallint;
    inserted boolean;
BEGIN
    LOOP
        SELECT cu.id, cu.name, cu.attributes, cu.last_agent_id, cu.last_agent_at INTO c
          FROM customer_identities ci JOIN customers cu ON cu.id = ci.customer_id
         WHERE ci.org_id = p_org AND ci.type = p_identity_type AND ci.value = p_identity_value;
        EXIT WHEN FOUND;
        cid := gen_random_uuid();
        INSERT INTO customers (id, org_id, name) VALUES (cid, p_org, p_name);
        INSERT INTO customer_identities (org_id, type, value, customer_id)
             VALUES (p_org, p_identity_type, p_identity_value, cid) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            SELECT cu.id, cu.name, cu.attributes, cu.last_agent_id, cu.last_agent_at INTO c
              FROM customers cu WHERE cu.id = cid;
            EXIT;
        END IF;
        -- another request created this identity first (ON CONFLICT waited for it): use theirs
        DELETE FROM customers WHERE id = cid;
    END LOOP;
    IF p_name IS NOT NULL AND c.name IS NULL THEN
        UPDATE customers SET name = p_name WHERE id = c.id;
    END IF;
    is_vip := jsonb_truthy(c.attributes -> 'vip');
    prio := CASE WHEN is_vip THEN GREATEST(coalesce(p_priority, 0), p_vip_priority) ELSE coalesce(p_priority, 0) END;
    INSERT INTO interactions (id, org_id, channel, queue, original_queue, state, priority, skills, subject,
                              customer_id, idempotency_key, created_by, created_at, enqueued_at)
         VALUES (p_id, p_org, p_channel, p_queue, p_queue, 'queued', prio, p_skills, p_subject,
                 c.id, p_idempotency_key, p_created_by, p_at, p_at)
    ON CONFLICT (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING;
    inserted := FOUND;
    IF inserted THEN
        INSERT INTO events (org_id, at, kind, interaction_id, queue, data)
             VALUES (p_org, p_at, 'created', p_id, p_queue, jsonb_build_object('channel', p_channel, 'priority', prio));
        IF p_message IS NOT NULL THEN
            INSERT INTO messages (org_id, interaction_id, sender, agent_id, text, at)
                 VALUES (p_org, p_id, 'customer', NULL, p_message, p_at);
        END IF;
    END IF;
    RETURN QUERY SELECT inserted, prio, c.id, coalesce(c.name, p_name), is_vip, c.last_agent_id, c.last_agent_at;
END
$$;
